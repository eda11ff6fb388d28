"""Versions of a batch that no state file accounts for (a deleted snapshot or segment), from file names.

How versions are numbered and written: a writer takes max(version in the directory) + 1 when it opens and
the next number for each checkpoint (or a compaction with nothing new to write); the number is in the
file's name. Every number taken is written (a write that fails gives its number back for the next one:
`checkpoint.Checkpoints`). A compaction writes its snapshot (at its own number) durably *before* it deletes
the files it covers, all of them its writer's and numbered at or below it. So in a healthy table, every
number from 1 to the highest one listed is:

* the name of a file in `segments/` or `snapshots/`, or
* at or below the highest snapshot's number (`floor`): the only numbers a compaction removes. Another
  writer's file under that floor cannot be told from one it covered, so the check is blind below it; or
* set aside by `rowrelay repair`: a damaged file moved into `damaged/` (a damaged snapshot still counts
  for the floor), or a gap whose loss was accepted (`damaged/missing/versions-<first>-<last>.missing`).

The highest number is the highest listed, or a writer's high-water mark if higher (`high_water`: the last
snapshot each writer recorded, and the last segment of a run that ended without compacting, so losing the
newest files is a gap too); and a writer's mark must have a snapshot of that writer at or above it, or be
set aside, even below another writer's floor, and its last segment the same or that segment itself.

Any other number is a gap: its file was deleted or lost, and rows whose latest version it held would read
as an older version, or not at all (a deleted snapshot of 300 rows read as a table of 111, whose export and
next run sent 51 completed rows again). Proof that a healthy table has none: take the writer session that
opened first among those that wrote a number >= n; nothing >= n was on disk when it opened, so it started
at or below n and, having written past n, wrote n too (that file then stays, or goes only under a snapshot
at or above n).

A reader lists the folders without a lock, while a writer renames new files in and a compaction deletes
old ones: one listing can miss a file another writer renamed in meanwhile while seeing a later one, or miss
a compaction's new snapshot while its old one is already gone. A number is therefore a gap only if a
second listing, made after the first, misses it too (`whole_listing`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from rowrelay.tasks.durable import atomic_write_bytes, make_dirs_durable
from rowrelay.tasks.errors import MissingVersionsError
from rowrelay.tasks.state.files import (
    DAMAGED,
    SEGMENTS,
    SNAPSHOTS,
    StateFile,
    data_file_name,
    entries,
    list_state_files,
    writing,
)
from rowrelay.tasks.state.high_water import Mark, marks

__all__ = ["Gap", "accept", "gaps_of", "missing_error", "said", "whole_listing"]

Gap = tuple[int, int]
"""Versions `first` to `last`, both included."""

MISSING = "missing"
"""The folder of `damaged/` where a repair records each gap whose loss it accepted."""
_ACCEPTED = re.compile(r"^versions-(?P<first>\d+)-(?P<last>\d+)\.missing$")
_SET_ASIDE = re.compile(r"^[A-Za-z0-9_.=+-]+?-(?P<version>\d{10,})\.parquet\.damaged(?:-\d+)?$")


def whole_listing(directory: Path) -> tuple[list[StateFile], list[Gap]]:
    """The state files of the batch and its gaps, a gap counted only if a second listing shows it too.

    The marks are read before each listing: a mark is recorded after its snapshot is written, so a listing
    made after reading it sees that snapshot, or a newer one (`whole_listing`'s second look for the race).
    """
    recorded = marks(directory)
    files = list_state_files(directory)
    first = gaps_of(directory, files, recorded)
    if not first:
        return files, []
    recorded = marks(directory)
    files = list_state_files(directory)
    return files, _common(first, gaps_of(directory, files, recorded))


def gaps_of(
    directory: Path, files: Iterable[StateFile], recorded: dict[str, Mark] | None = None
) -> list[Gap]:
    """The numbers from the floor up to the highest listed or recorded one that nothing accounts for, and
    the marks (`recorded`) whose writer's snapshot is gone, as ranges."""
    held, floor = _set_aside(directory)
    recorded = recorded or {}
    top = max((max(mark.version, mark.last or 0) for mark in recorded.values()), default=0)
    snapshots: dict[str, int] = {}
    for state_file in files:
        held.add(state_file.version)
        top = max(top, state_file.version)
        if state_file.snapshot:
            floor = max(floor, state_file.version)
            snapshots[state_file.writer] = max(snapshots.get(state_file.writer, 0), state_file.version)
    lost = {
        version
        for writer, mark in recorded.items()
        for version in (mark.version, mark.last or 0)
        if snapshots.get(writer, 0) < version and version not in held
    }
    missing: list[Gap] = []
    for version in sorted(lost.union(v for v in range(floor + 1, top + 1) if v not in held)):
        if missing and missing[-1][1] == version - 1:
            missing[-1] = (missing[-1][0], version)
        else:
            missing.append((version, version))
    return missing


def _set_aside(directory: Path) -> tuple[set[int], int]:
    """Numbers `rowrelay repair` set aside (moved damaged files, accepted gaps) and the highest set-aside
    snapshot's number: a snapshot moved aside still covered what its compaction deleted."""
    held: set[int] = set()
    floor = 0
    for sub in (SEGMENTS, SNAPSHOTS):
        for name in _names(directory / DAMAGED / sub):
            match = _SET_ASIDE.match(name)
            if match is not None:
                held.add(int(match["version"]))
                if sub == SNAPSHOTS:
                    floor = max(floor, int(match["version"]))
    for name in _names(directory / DAMAGED / MISSING):
        match = _ACCEPTED.match(name)
        if match is not None:
            held.update(range(int(match["first"]), int(match["last"]) + 1))
    return held, floor


def _names(folder: Path) -> list[str]:
    if not folder.is_dir():  # nothing ever set aside: the usual case
        return []
    return [entry.name for entry in entries(folder)]


def _common(one: list[Gap], other: list[Gap]) -> list[Gap]:
    """The numbers in both lists of ranges, as ranges."""
    common: list[Gap] = []
    for first, last in one:
        for low, high in other:
            start, end = max(first, low), min(last, high)
            if start <= end:
                common.append((start, end))
    return sorted(common)


def said(missing: Iterable[Gap]) -> str:
    """`versions 1-65 and 70`: how a gap is named."""
    ranges = list(missing)
    parts = [str(first) if first == last else f"{first}-{last}" for first, last in ranges]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}"
    one = len(ranges) == 1 and ranges[0][0] == ranges[0][1]
    return f"{'version' if one else 'versions'} {listed}"


def missing_error(directory: Path, missing: list[Gap]) -> MissingVersionsError:
    """The error naming a batch's gaps, in one line."""
    return MissingVersionsError(
        str(directory),
        f"no state file holds {said(missing)} of the table (a segment or snapshot deleted or lost"
        f"{_recorded_among(directory, missing)}): rows whose latest version was there would read as an older "
        "one, or be missing",
        missing=tuple(missing),
    )


def _recorded_among(directory: Path, missing: list[Gap]) -> str:
    """The recorded files among the gaps, as `; among them snapshots/main-0000000100.parquet, of 100 rows,
    the newest its writer recorded`: a lost newest snapshot (or a run's last segment past it) is the gap
    only a mark shows."""

    def among(version: int | None) -> bool:
        return version is not None and any(first <= version <= last for first, last in missing)

    recorded = sorted(marks(directory).items())
    snapshots = [
        f"{SNAPSHOTS}/{data_file_name(writer, mark.version)}, of {mark.rows:,} rows"
        for writer, mark in recorded
        if among(mark.version)
    ]
    lasts = [(writer, mark.last) for writer, mark in recorded if mark.last is not None and among(mark.last)]
    segments = [f"{SEGMENTS}/{data_file_name(writer, last)}" for writer, last in lasts]
    said = []
    if snapshots:
        whose = "its writer" if len(snapshots) == 1 else "each"
        said.append(f"{' and '.join(snapshots)}, the newest {whose} recorded")
    if segments:
        whose = "segment its writer" if len(segments) == 1 else "segments their writers"
        said.append(f"{' and '.join(segments)}, the last {whose} wrote at a run's end")
    return "".join(f"; among them {part}" if i == 0 else f"; and {part}" for i, part in enumerate(said))


def accept(directory: Path, missing: Iterable[Gap]) -> list[Path]:
    """Record each gap as a loss a repair accepted (an empty, durable marker file a gap); returns them."""
    folder = directory / DAMAGED / MISSING
    make_dirs_durable(folder)
    made: list[Path] = []
    for first, last in missing:
        path = folder / f"versions-{first:010d}-{last:010d}.missing"
        with writing(path):
            atomic_write_bytes(path, b"")
        made.append(path)
    return made
