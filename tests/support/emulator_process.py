"""The emulator in its own process (`python -m rowrelay.tasks.emulator`), for load that would otherwise
share one GIL with the runner under test."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx


class EmulatorProcess:
    """A running emulator process. `url` ends in /v1; `get` reads inspection endpoints."""

    def __init__(self, *options: str) -> None:
        command = [sys.executable, "-P", "-m", "rowrelay.tasks.emulator", "--port", "0", *options]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().decode().strip()
        self._process.stdout.close()
        if not line.startswith("rowrelay emulator listening on "):
            self._process.kill()
            self._process.wait()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1]

    def get(self, path: str) -> Any:
        return httpx.get(self.url.removesuffix("/v1") + path, timeout=30).json()

    @contextlib.contextmanager
    def held_still(self) -> Iterator[None]:
        """The server stopped (SIGSTOP) for the block: no response it holds ends, and no client learns of
        one, so a look at a run's rows finds those in flight still in flight, however slow the look."""
        self._process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)


@contextlib.contextmanager
def emulator_process(*options: str) -> Iterator[EmulatorProcess]:
    running = EmulatorProcess(*options)
    try:
        yield running
    finally:
        running.close()
