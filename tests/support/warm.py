"""A warm runner (flows/warm.py) seen from outside: when it is ready, and which commands it ran; and a
runner started ahead of a session's first run, then waited for by each run it is about to serve."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rowrelay.flows import detached, warm

_READY_WITHIN = 180.0
"""A bound, not a wait: a runner imports for 3-5 s here, much longer on a loaded 2-core machine."""

_AS_INSTALLED = """
import os, sys
# The installed script's folder first on sys.path, as `rowrelay` has it (a fingerprint holds sys.path).
sys.path[0] = os.path.dirname(sys.executable)
from rowrelay.flows import warm
print_ = warm.fingerprint(os.environ)
"""
_STARTED = _AS_INSTALLED + "warm.start_runner(os.environ, print_)\n"
_SAID = _AS_INSTALLED + "print(print_)\n"


def served(home: Path) -> list[int]:
    """The pids of the commands the runner of `home` has run, from its log."""
    log = home / "runner.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [int(line.split()[1].rstrip(":")) for line in lines if line.startswith("pid ")]


def wait_for_runner(home: Path) -> dict[str, Any]:
    deadline = time.monotonic() + _READY_WITHIN
    while True:
        record = warm.runner_record(home)
        if record is not None and Path(str(record["socket"])).exists():
            return record
        assert time.monotonic() < deadline, (home / "runner.log").read_text()[-3000:]
        time.sleep(0.1)


def start_runner(env: Mapping[str, str]) -> None:
    """Leave in `env`'s ROWRELAY_HOME the runner the installed `rowrelay run` with `env` would leave, as
    a run that ran would (flows/entry.py), without that run: the session's first `rowrelay run` then
    waits for it to be ready (`ready_if_starting`) instead of running cold, some 5 CPU-s a worker. A
    runner whose fingerprint came out otherwise is only replaced by the first run, as it would be."""
    subprocess.run([sys.executable, "-c", _STARTED], env=dict(env), check=True, timeout=60)


def _fingerprint(env: Mapping[str, str]) -> str:
    """The fingerprint the installed `rowrelay` computes for a command with `env` (flows/entry.py)."""
    said = subprocess.run(
        [sys.executable, "-c", _SAID], env=dict(env), check=True, timeout=60, capture_output=True
    )
    return said.stdout.decode().strip()


def ready_if_starting(env: Mapping[str, str]) -> None:
    """Wait while the runner recorded in `env`'s ROWRELAY_HOME is still importing (no socket yet), if it
    is the one to serve a command with `env`. A run that ran leaves it there and a test's next run comes
    within a second, where a user's comes minutes later: without this wait that next run (and any after
    it within 4-10 s) ran cold too, importing Prefect, pandas and the SDK for itself, which tests of what
    a run does, not how it starts, need not pay. A runner that ends meanwhile (replaced, stopped) is
    waited for no longer."""
    home = Path(env["ROWRELAY_HOME"])
    record = warm.runner_record(home)
    pid = record.get("pid") if record is not None else None
    if record is None or not isinstance(pid, int) or Path(str(record["socket"])).exists():
        return
    if record.get("fingerprint") != _fingerprint(env):  # one it will replace: never waited for
        return
    deadline = time.monotonic() + _READY_WITHIN
    while detached.runs(pid, warm.MARKER) and not Path(str(record["socket"])).exists():
        assert time.monotonic() < deadline, (home / "runner.log").read_text()[-3000:]
        time.sleep(0.05)
