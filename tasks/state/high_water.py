"""Each writer's high-water mark: the version and row count of the last snapshot it wrote, kept apart.

The gap check (`versions`) finds a deleted file only below a file that remains: losing a batch's newest
files leaves no gap, so a finished batch whose one snapshot was deleted read as a table of no rows, and its
next run sent and paid for every row again. A compaction therefore records, once its snapshot is durable,
that snapshot's version and row count in `high-water/<writer>.json`; a reader then takes every recorded
version as written (it must be held by a file, at or below a remaining snapshot's floor, or set aside by
`rowrelay repair`), and a writer's own snapshot at or above its mark must remain. A run's end that does
not compact (`compaction.worth_compacting`) leaves segments past the snapshot, the newest files again: it
records its last one in the mark too (`last`), which must then remain, or a snapshot of the writer at or
above it. Marks are written at compactions and at runs' ends only, so no checkpoint pays for the record;
a reader pays one listing and a few small reads.

A compaction that crashed between its snapshot and its record leaves the record one snapshot behind: the
newer snapshot is above the mark, which is all the check asks. Batches of older releases have no record
and are read as before; so is a record that does not parse (it can only have been edited), and a batch
that never compacted (a run killed before its first compaction) has none yet.

    record(Path("data/state/b1"), "main", version=120, rows=1_000)
    marks(Path("data/state/b1"))  # {"main": Mark(version=120, rows=1000, last=None)}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rowrelay.tasks.durable import atomic_write_bytes, make_dirs_durable
from rowrelay.tasks.state.files import entries, reading, writing

__all__ = ["HIGH_WATER", "Mark", "mark_path", "marks", "record"]

HIGH_WATER = "high-water"
"""The folder of the batch holding one `<writer>.json` per writer that ever compacted."""


@dataclass(frozen=True, slots=True)
class Mark:
    """The last snapshot a writer recorded: its version (in its name) and the rows it held; and `last`, the
    last segment of a run that ended without compacting (above `version`; None once a snapshot covers it)."""

    version: int
    rows: int
    last: int | None = None


def mark_path(directory: Path, writer: str) -> Path:
    return directory / HIGH_WATER / f"{writer}.json"


def record(directory: Path, writer: str, *, version: int, rows: int, last: int | None = None) -> None:
    """Record `writer`'s snapshot at `version`, holding `rows`, durably (after the snapshot itself is), and
    its `last` segment, if a run ended past it without compacting. A mark recorded higher (a snapshot lost
    and its loss accepted since) stays: a mark never goes down."""
    path = mark_path(directory, writer)
    kept = _parsed(path)
    if kept is not None and kept.version > version:
        version, rows = kept.version, kept.rows
    with writing(path):
        make_dirs_durable(path.parent)
        fields = {"version": version, "rows": rows} | ({} if last is None else {"last": last})
        atomic_write_bytes(path, json.dumps(fields).encode())


def marks(directory: Path) -> dict[str, Mark]:
    """Every writer's mark; {} for a batch without any (an older release's, or one never compacted)."""
    folder = directory / HIGH_WATER
    if not folder.is_dir():
        return {}
    found: dict[str, Mark] = {}
    for entry in entries(folder):
        writer, dot, suffix = entry.name.rpartition(".")
        if not dot or suffix != "json" or entry.name.startswith("."):  # temp files start with a dot
            continue
        mark = _parsed(Path(entry.path))
        if mark is not None:
            found[writer] = mark
    return found


def _parsed(path: Path) -> Mark | None:
    """A mark's record, or None if it is gone or does not parse: only an edit makes one that does not
    (written atomically), and refusing the batch for it would stop every command over a guard's file."""
    try:
        with reading(path):
            raw = json.loads(path.read_bytes())
        version, rows = raw["version"], raw["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if type(version) is not int or type(rows) is not int or version < 1 or rows < 0:
        return None
    last = raw.get("last")
    return Mark(version, rows, last if type(last) is int and last > version else None)
