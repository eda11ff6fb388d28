"""Compaction: fold one writer's files into one snapshot, crash-safe, never touching other writers' files.

Each writer compacts only its own files, under its own lease: the snapshot `snapshots/<w>-<v>.parquet`
holds the latest state of every row whose latest version `w` wrote (each row keeps its own `version`), and
covers every segment of `w` with version <= v and every older snapshot of `w`. The snapshot is written
atomically *before* the covered files are deleted, so a crash in between leaves duplicates that are exact
copies (same row, same version, same values) and readers resolve them to the same result. Rows `w` wrote
whose latest version came from another writer are left to that writer's files, which `w` never deletes.
A live writer's segments are therefore never lost, and no lease on the other shards is needed. Once the
snapshot is durable its version is recorded as the writer's high-water mark (`high_water`), so a reader
finds it missing even when it was the newest file.

When a writer compacts: whenever it holds more than `COMPACT_SEGMENTS` segments, and at the end of a run
only when that is worth it (`worth_compacting`): a run's end that rewrote the whole table however little
had changed cost a scheduled job of a few rows a run the table's size in writes every time.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.durable import fsync_dir, make_dirs_durable
from rowrelay.tasks.state.files import SNAPSHOTS, data_file_name, list_state_files
from rowrelay.tasks.state.high_water import record
from rowrelay.tasks.state.segments import write_state_file

COMPACT_SEGMENTS = 64
"""A writer folds its segments into a snapshot once it has more than this many."""
COMPACT_SHARE = 0.05
"""At a run's end, a writer with a snapshot compacts once its segments since hold more rows than this
share of the snapshot's (or more than `COMPACT_SEGMENTS` of them): `worth_compacting`."""


def worth_compacting(*, segments: int, segment_rows: int, snapshot_rows: int | None) -> bool:
    """Whether a run's end folds the writer's `segments` (holding `segment_rows` rows, a row as many times
    as they wrote it; the run's last checkpoint included) into a new snapshot. `snapshot_rows`: what the
    writer's snapshot holds; None if it has none yet, and then any segment is worth it (a finished first
    run leaves one file).

    A compaction writes every row of the writer, however few changed. Measured (2026-12-07, the 2-core VM
    at load 11-15, so CPU figures): a 200,000-row batch, `rowrelay run --limit 20` on the emulator
    (lognormal 1 s): its snapshot is 3.84 MB, which every run's end wrote (33 GB a month at a run every 5
    minutes); each run writes 13-16 segments (125-156 KB), so now the count compacts every 4th or 5th
    run: ten runs wrote 9.0 MB, 0.9 MB a run, about 4x less. What leaving segments costs is the next
    load's, about 1.9 ms of CPU a small file: a 200,000-row table, 80% completed, loads in 0.19 s alone,
    0.31 s beside 64 small segments. The share bounds what they hold: target 6's crashed 1,000,000-row
    table (bench_scale) whose main writer had left 63 segments just under 5% of its rows before the crash
    resumes in 1.74 s of CPU against 1.62 s, peak 881 MB against 843; at 10%, 1.78 s and 909 MB, too near
    the target's 1 GB.
    """
    if segments == 0:
        return False
    if snapshot_rows is None:
        return True
    return segments > COMPACT_SEGMENTS or segment_rows > COMPACT_SHARE * snapshot_rows


def write_snapshot(
    directory: Path, writer: str, version: int, merged: pa.Table, *, keep: Collection[Path] = ()
) -> int:
    """Write `writer`'s snapshot at `version` from the merged latest table, then delete what it covers.

    Files in `keep` (damaged files skipped at open) are left in place, as evidence for a person.
    Returns the number of rows the snapshot holds (the writer's own).
    """
    mine = pc.equal(merged.column("writer"), pa.scalar(writer))
    own = merged if pc.all(mine).as_py() is not False else merged.filter(mine)  # one writer: no copy
    folder = directory / SNAPSHOTS
    make_dirs_durable(folder)
    write_state_file(folder / data_file_name(writer, version), own, snapshot=True)
    record(directory, writer, version=version, rows=own.num_rows)  # losing this snapshot is then seen
    covered = [
        f
        for f in list_state_files(directory)
        if f.writer == writer
        and f.path not in keep
        and (f.version < version or (f.version == version and not f.snapshot))
    ]
    for state_file in covered:
        state_file.path.unlink(missing_ok=True)
    for parent in {f.path.parent for f in covered}:
        fsync_dir(parent)
    return int(own.num_rows)
