"""A warm runner (flows/warm.py) seen from outside: when it is ready, and which commands it ran."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rowrelay.flows import warm

_READY_WITHIN = 180.0
"""A bound, not a wait: a runner imports for 3-5 s here, much longer on a loaded 2-core machine."""


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
