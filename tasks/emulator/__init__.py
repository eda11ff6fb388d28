"""A faithful local emulator of the OpenAI Responses API (background mode), plus Chat Completions.

rowrelay's default backend and its test double. It imports nothing else of rowrelay's.
"""

from rowrelay.tasks.emulator.app import create_app
from rowrelay.tasks.emulator.config import EmulatorConfig, LatencySpec
from rowrelay.tasks.emulator.server import RunningEmulator, running_emulator, serve

__all__ = [
    "EmulatorConfig",
    "LatencySpec",
    "RunningEmulator",
    "create_app",
    "running_emulator",
    "serve",
]
