"""Leases as runs leave them: the pid of a process that has ended, a lease file written by hand, and a
batch another live process holds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


_HOLDER = """
import sys
from pathlib import Path
from rowrelay.tasks.state import StateTable
with StateTable.open(Path(sys.argv[1]), writer=sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held_elsewhere(state: Path, writer: str = "main") -> Iterator[int]:
    """The batch at `state` held by another live process, as a second terminal's run holds it (a holder
    in the test's own process is a run of the caller's own, said otherwise: `lease.IN_THIS_PROCESS`).
    Yields the holder's pid; it lets go when the block ends."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(state), writer],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:  # closes its pipes and waits for it
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "held", "the holder could not take the batch"
            yield holder.pid
        finally:
            holder.stdin.close()
