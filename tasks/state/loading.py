"""What a writer opening a batch reads from its files: the rows' latest states and where versions go on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.errors import MissingVersionsError
from rowrelay.tasks.state.checkpoint import Own
from rowrelay.tasks.state.files import StateFile, remove_own_temps, version_in_name
from rowrelay.tasks.state.high_water import Mark, marks
from rowrelay.tasks.state.segments import read_latest
from rowrelay.tasks.state.store import RowStore, winners

__all__ = ["Loaded", "load_for_writer"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    store: RowStore
    damaged: list[Path]
    """Files that could not be read (`skip_corrupt`): never deleted, not even by compaction."""
    gaps: bool
    """Versions are missing between segments (a file moved aside by `repair`)."""
    problems: list[str]
    next_version: int
    own: Own
    """This writer's segments (what its compaction would fold), their rows, and its snapshot."""


def load_for_writer(directory: Path, writer: str, *, skip_corrupt: bool) -> Loaded:
    """Read the batch in `directory` for `writer`, whose lease is held: its own left-over temp files are
    removed first (a crash mid-write), every damaged file is logged (and raises unless `skip_corrupt`)."""
    remove_own_temps(directory, writer)
    latest, files, skipped = read_latest(directory, skip_corrupt=skip_corrupt, dedupe=False)
    gaps = any(isinstance(exc, MissingVersionsError) for exc in skipped)
    damaged = [Path(exc.path) for exc in skipped if not isinstance(exc, MissingVersionsError)]
    problems = [str(exc) for exc in skipped]
    for problem in problems:
        log.warning("skipping %s", problem)
    # above a recorded mark too: a lost newest snapshot's number, once its loss is accepted, is not reused
    versions = [f.version for f in files] + [version_in_name(p) for p in damaged]
    versions += [max(mark.version, mark.last or 0) for mark in marks(directory).values()]
    if latest.num_rows:
        versions.append(int(pc.max(latest.column("version")).as_py()))
    own = own_files(latest, files, writer)
    latest = winners(latest)  # rebound: every older version is freed before the store's index is built
    pa.default_memory_pool().release_unused()  # hand the older versions' pages back before the index
    return Loaded(RowStore(latest), damaged, gaps, problems, max(versions, default=0) + 1, own)


def own_files(versions: pa.Table, files: list[StateFile], writer: str) -> Own:
    """`writer`'s segments, the rows they hold past its last snapshot, and that snapshot's version and
    rows, from every version read (each row version names its writer: `invariants`). Segments a crash left
    under the snapshot count as files, their rows as the snapshot's; leftovers only delay a compaction."""
    segments = sum(1 for f in files if f.writer == writer and not f.snapshot)
    snapshot = max((f.version for f in files if f.writer == writer and f.snapshot), default=None)
    if not versions.num_rows:
        return Own(segments, 0, None if snapshot is None else Mark(snapshot, 0))
    mine = pc.equal(versions.column("writer"), pa.scalar(writer))
    if snapshot is None:
        return Own(segments, _trues(mine), None)
    past = _trues(pc.and_(mine, pc.greater(versions.column("version"), pa.scalar(snapshot, pa.int64()))))
    return Own(segments, past, Mark(snapshot, _trues(mine) - past))


def _trues(mask: Any) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)
