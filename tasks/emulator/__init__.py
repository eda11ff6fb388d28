"""A faithful local emulator of the OpenAI Responses API (background mode), plus Chat Completions.

rowrelay's default backend and its test double. It imports nothing else of rowrelay's.

Names load on first use (PEP 562): `rowrelay --help` registers the `emulator` command from
`rowrelay.tasks.emulator.cli`, which must not pay for starlette, uvicorn and the SDK's types that only
serving needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rowrelay.tasks.emulator.app import create_app
    from rowrelay.tasks.emulator.config import EmulatorConfig, LatencySpec
    from rowrelay.tasks.emulator.server import RunningEmulator, running_emulator, serve

_HOMES = {
    "rowrelay.tasks.emulator.app": ["create_app"],
    "rowrelay.tasks.emulator.config": ["EmulatorConfig", "LatencySpec"],
    "rowrelay.tasks.emulator.server": ["RunningEmulator", "running_emulator", "serve"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "EmulatorConfig",
    "LatencySpec",
    "RunningEmulator",
    "create_app",
    "running_emulator",
    "serve",
]


def __getattr__(name: str) -> object:
    """Load a name from the module that defines it, once; an unknown name (a submodule in `from
    rowrelay.tasks.emulator import delivery`) is an AttributeError, so the import system loads it."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'rowrelay.tasks.emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
