"""Leases as runs leave them: the pid of a process that has ended, and a lease file written by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from rowrelay.tasks.state.files import LEASES
from rowrelay.tasks.state.lease import LeaseInfo


def gone_pid() -> int:
    """The pid of a process that has ended (and been reaped), as a run killed outright leaves it."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(ended.stdout)


def write_lease(state: Path, info: LeaseInfo, **extra: object) -> Path:
    """`info` written as the batch's lease of its writer (`extra`: fields another release may write)."""
    path = state / LEASES / f"{info.writer}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**asdict(info), **extra}))
    return path
