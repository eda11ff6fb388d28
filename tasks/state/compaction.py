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


def write_snapshot(
    directory: Path, writer: str, version: int, merged: pa.Table, *, keep: Collection[Path] = ()
) -> int:
    """Write `writer`'s snapshot at `version` from the merged latest table, then delete what it covers.

    Files in `keep` (damaged files skipped at open) are left in place, as evidence for a person.
    Returns the number of files deleted.
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
    return len(covered)
