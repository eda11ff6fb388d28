"""A private rowrelay home whose local Prefect server (and embedded emulator and warm runner) the test
or benchmark that made it is sure to leave stopped: `rowrelay services stop`, then a sweep for any
process still serving that home's Prefect data (found by its PREFECT_HOME, not by a record: a lost
record must not hide one) or still a runner of that home.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import psutil

from rowrelay.flows.embedded import stop_emulator
from rowrelay.flows.local_prefect import stop_server
from rowrelay.flows.warm import MARKER, stop_runner


def environment(home: Path, client_prefect_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any Prefect API, key, base URL or rowrelay setting, so a run
    starts (or reuses) the local server under `home`; the run's own Prefect files go to
    `client_prefect_home`, never to the user's ~/.prefect."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "OPENAI_", "AZURE_OPENAI_", "ROWRELAY_"))
    }
    return {
        **env,
        "ROWRELAY_HOME": str(home),
        "PREFECT_HOME": str(client_prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **extra,
    }


def servers_of(home: Path) -> list[psutil.Process]:
    """Live processes serving the Prefect data under `home` (their PREFECT_HOME is home/prefect), warm
    runners of `home` (flows/warm_runner.py, given `home` on their command line), and embedded emulators
    started for `home` (ROWRELAY_HOME in their environment)."""
    data = str(home / "prefect")
    runner = [MARKER, str(home)]
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            environ, command = process.environ(), process.cmdline()
            emulator = environ.get("ROWRELAY_HOME") == str(home) and "rowrelay.tasks.emulator" in command
            if environ.get("PREFECT_HOME") == data or command[-3:-1] == runner or emulator:
                found.append(process)
    return found


@contextlib.contextmanager
def stopped_afterwards(home: Path) -> Iterator[Path]:
    """Yield `home`; afterwards stop what rowrelay recorded there, then kill (and report) any server
    the records no longer named: the caller asserts the report is empty."""
    leftovers: list[int] = []
    try:
        yield home
    finally:
        stop_server(home)
        stop_emulator(home)
        stop_runner(home)
        for process in servers_of(home):
            leftovers.append(process.pid)
            with contextlib.suppress(psutil.Error):
                process.kill()
                process.wait(10)
        if leftovers:
            raise AssertionError(f"servers left running under {home} without a record: {leftovers}")
