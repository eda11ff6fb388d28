"""The `rowrelay deploy` processes serving a deployment from this home, so that a second one says so.

A deployment served by two processes (a second `rowrelay deploy --name N`, or an old one left running
beside its replacement) runs in both: `limit=1` holds within one process only, so a run due while the
other process's still goes starts in the free one, finds the batch held, and ends `Cancelled`
(flows/scheduled.py). Each serving process notes itself under rowrelay's home (`deployments/NAME.json`)
while it serves; one started while another noted there still runs warns at once (a note left by a process
that is gone is passed over). Only processes of this home on this machine are seen.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from rowrelay.flows import detached

MARKER = "deploy"
"""What a serving process's command line holds (`rowrelay deploy ...`): a reused pid is not taken for one."""


def _note_of(home: Path, name: str) -> Path:
    # Hashed: a deployment's name may hold characters a file name cannot (a slash).
    return home / "deployments" / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.json"


@contextlib.contextmanager
def serving(home: Path, name: str) -> Iterator[int | None]:
    """Note this process as serving deployment `name` for the block; yields the pid of another live
    process of this home serving it already (its note is taken over), else None."""
    note = _note_of(home, name)
    note.parent.mkdir(parents=True, exist_ok=True)
    with detached.exclusive(note.with_suffix(".lock")):
        held = detached.read_record(note) or {}
        pid = held.get("pid")
        other = pid if isinstance(pid, int) and pid != os.getpid() and detached.runs(pid, MARKER) else None
        detached.write_record(note, {"name": name, "pid": os.getpid(), "started_at": time.time()})
    try:
        yield other
    finally:
        with detached.exclusive(note.with_suffix(".lock")):
            if (detached.read_record(note) or {}).get("pid") == os.getpid():
                note.unlink(missing_ok=True)


def served_twice(name: str, other: int) -> str:
    return (
        f"warning: deployment {name!r} is served already, by pid {other} (`rowrelay deploy`): served twice, "
        "a run due while the other process's goes starts here, finds the batch held, and ends Cancelled; "
        "stop one of them (README, Scheduled jobs)"
    )
