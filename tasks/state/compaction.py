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
COMPACT_SHARE = 0.1
"""At a run's end, a writer with a snapshot compacts once its segments since hold more rows than this
share of the snapshot's (or more than `COMPACT_SEGMENTS` of them)."""


def worth_compacting(*, segments: int, segment_rows: int, snapshot_rows: int | None) -> bool:
    """Whether a run's end folds the writer's `segments` (holding `segment_rows` rows, a row as many times
    as they wrote it; the run's last checkpoint included) into a new snapshot. `snapshot_rows`: what the
    writer's snapshot holds; None if it has none yet, and then any segment is worth it (a finished first
    run leaves one file).

    A compaction writes every row of the writer, however few changed: a 200,000-row batch run with
    `--limit 20` every 5 minutes rewrote its whole snapshot at every run's end (33 GB a month, hOps's
    measure). What leaving segments costs is the next load's: a resume reads every file, each small one
    about 3-4 ms whatever it holds. Measured on the 2-core VM at load 7 (`StateTable`'s load, in one
    process, medians of 7), a 200,000-row table: one snapshot 0.33 s; with 64 segments of 5 rows beside
    it 0.61 s; with 63 segments holding a tenth of its rows 0.85 s. Runs of 20 rows over it (3
    checkpoints each) wrote 1.47 MB a run before (the snapshot, every time) and 23.5 KB now, a
    compaction every 22nd run (the segments' count): 68 KB a run on average, 21x less.
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
