"""Where the embedded emulators are recorded under rowrelay's home, and which of them a run would use.

The last one started is `<home>/emulator.json`; one of other options, or of an older emulator code, that
still ran when another replaced it is set aside as `emulator-<hash of its options and code>.json`. A
record holds the emulator's url, pid, options (`args`), code and start time. A recorded emulator is the
one a run with options `args` would start now (`is_current`) only if both its options and its code are
this rowrelay's: one started before an upgrade, or an edit of a checkout's emulator, answers as its own
code does. Starting, reusing and stopping them is `embedded`'s.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from rowrelay.flows import detached

MARKER = "rowrelay.tasks.emulator"
"""What the emulator's command line holds (`detached.runs`)."""


def record_path(home: Path, args: str | None = None, code: str | None = None) -> Path:
    """`emulator.json` (the last one started), or where an emulator of options `args` and emulator code
    `code` (this rowrelay's unless given) is set aside."""
    if args is None:
        return home / "emulator.json"
    identity = f"{args}\0{emulator_code() if code is None else code}"
    return home / f"emulator-{hashlib.sha256(identity.encode()).hexdigest()[:12]}.json"


@functools.cache
def emulator_code() -> str:
    """The emulator code this rowrelay runs: its version and its sources' newest change. An emulator
    started by another (before an upgrade, or before its checkout was edited) answers as that one's
    code does, so it is not reused: a run would get the old answers, features missing."""
    from importlib.metadata import version

    import rowrelay.tasks.emulator

    newest = max(detached.newest_source(path) for path in rowrelay.tasks.emulator.__path__)
    return f"{version('rowrelay')}+{newest}"


def is_current(record: dict[str, Any], args: str) -> bool:
    """Whether a recorded emulator is one a run with options `args` would start now."""
    return record.get("args") == args and record.get("code") == emulator_code()


def emulator_runs_at(home: Path, url: str) -> bool:
    """Whether an embedded emulator recorded at `url` still runs (its process: nothing on the wire)."""
    return any(
        record.get("url") == url and detached.runs(int(record.get("pid", 0)), MARKER)
        for record in emulator_records(home)
    )


def emulator_record(home: Path) -> dict[str, Any] | None:
    """The last started embedded emulator's record (url, pid, args, started_at), if one was written."""
    return detached.read_record(record_path(home.expanduser()))


def emulator_records(home: Path) -> list[dict[str, Any]]:
    """Every embedded emulator recorded: the last started first, then those set aside."""
    home = home.expanduser()
    paths = [record_path(home), *sorted(home.glob("emulator-*.json"))]
    # One set aside by a run that then failed to start its own is recorded twice.
    by_pid: dict[object, dict[str, Any]] = {}
    for record in map(detached.read_record, paths):
        if record is not None:
            by_pid.setdefault(record.get("pid"), record)
    return list(by_pid.values())
