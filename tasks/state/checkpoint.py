"""Checkpoints of one writer: the changed rows, captured on the owning thread, written as one segment.

A checkpoint takes the next version, stamps it on the changed rows in memory, and builds their Arrow table:
that capture runs on the thread that owns the table (the event loop's), because only that thread changes
rows. The write (segment, and snapshot when compacting) runs there too for `flush`, or in the table's one
writer thread for the group commit's `write_pending`, so the event loop keeps running meanwhile.

Checkpoints never overlap: the next one is captured only once the previous one is written or has failed,
and a failed write marks its rows changed again before it finishes, so the next checkpoint carries them
and `durable` (the count of changes known to be on disk) never runs ahead of the files. State files are
written under the `_io` lock, one at a time (`add_pending`'s direct writes included).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from rowrelay.tasks.state.commit import shielded, unread
from rowrelay.tasks.state.compaction import COMPACT_SEGMENTS as COMPACT_SEGMENTS
from rowrelay.tasks.state.compaction import worth_compacting, write_snapshot
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS, data_file_name
from rowrelay.tasks.state.folding import Fold, merge_written
from rowrelay.tasks.state.high_water import Mark, record
from rowrelay.tasks.state.lease import Lease
from rowrelay.tasks.state.schema import rows_to_table, with_version
from rowrelay.tasks.state.segments import write_state_file
from rowrelay.tasks.state.store import RowStore


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One checkpoint, captured on the owning thread: written later, possibly in the writer thread."""

    version: int
    changes: int
    keys: tuple[str, ...]
    table: pa.Table
    fold: Fold | None


@dataclass(frozen=True, slots=True)
class Own:
    """A writer's own files when it opens: its segments, the rows they hold, and its last snapshot (its
    version and rows; None if it has none). What a run's end asks to decide whether to compact."""

    segments: int
    segment_rows: int
    snapshot: Mark | None


@dataclass(frozen=True, slots=True)
class Place:
    """Where a writer's checkpoints go. `damaged`: files skipped at open, never deleted (by compaction
    neither), shared with the table that reports them. `gaps`: versions no file held were skipped at open;
    the writer then never compacts, as its snapshot would raise the floor over them (`versions`) and hide
    them from every later reader."""

    directory: Path
    writer: str
    lease: Lease
    damaged: list[Path]
    gaps: bool = False


class Checkpoints:
    """The changed rows of one open table and their way to disk (`Committable` for the group commit)."""

    def __init__(self, place: Place, store: RowStore, *, next_version: int, own: Own, lease_timeout: float,
                 clock: Callable[[], float]) -> None:  # fmt: skip
        """`next_version`: above every version in the directory; `own`: this writer's files."""
        self._place = place
        self._store = store
        self._next_version = next_version
        self._own_segments = own.segments
        self._own_segment_rows = own.segment_rows
        self._snapshot = own.snapshot
        self._last_segment: int | None = None  # written since the last snapshot or mark: a run's end marks it
        self._lease_timeout = lease_timeout
        self._clock = clock
        self.dirty: set[str] = set()
        self.changes = 0
        self.durable = 0
        self.last_write = clock()
        self._last_beat = self.last_write
        self._io = threading.Lock()
        self._writes: ThreadPoolExecutor | None = None  # the writer thread, started by the first commit
        self._in_flight: Future[pa.Table | None] | None = None  # the checkpoint it is writing, if any

    @property
    def pending_rows(self) -> int:
        return len(self.dirty)

    def changed(self, row_key: str) -> int:
        """Note a change to `row_key`; returns how many rows now wait for a checkpoint."""
        self.dirty.add(row_key)
        self.changes += 1
        return len(self.dirty)

    def write_now(self, build: Callable[[int], pa.Table]) -> pa.Table:
        """Write `build(version)` as a segment at the next version, at once; returns the table written."""
        if self._in_flight is not None:
            wait([self._in_flight])  # numbers are taken only while nothing is being written (`_give_back`)
        with self._io:
            version = self._take_version()
            try:
                table = build(version)
                self._write_segment(version, table)
            except BaseException:
                self._give_back(version)
                raise
        return table

    def flush(self, *, compact: bool = False, end: bool = False) -> Checkpoint | None:
        """Write every changed row now, blocking; returns the checkpoint written (None if none was due).

        `compact`: fold this writer's files into a snapshot too. `end`: a run's end, which compacts only if
        `worth_compacting` says so, and otherwise records its last segment beside its snapshot's mark.
        """
        if self._in_flight is not None:
            wait([self._in_flight])  # its outcome is its own caller's: this one only needs it finished
        batch = self._capture(compact=compact or (end and self._worth_compacting()))
        if batch is not None:
            self._finish(batch, self._write(batch))
        if end:
            self._mark_last_segment()
        return batch

    async def write_pending(self) -> None:
        """Capture the changed rows now, on the calling thread, and write them in the writer thread.

        The write is shielded: cancelling the caller never drops a captured checkpoint.
        """
        if self._in_flight is not None:
            await asyncio.wait([unread(asyncio.wrap_future(self._in_flight))])  # its outcome: its caller's
        batch = self._capture(compact=False)
        if batch is None:
            return
        try:
            self._writes = self._writes or ThreadPoolExecutor(1, thread_name_prefix="rowrelay-state")
            self._in_flight = self._writes.submit(self._write, batch)
        except BaseException:
            self.dirty.update(batch.keys)  # never handed over: the next checkpoint must carry them
            raise
        merged = await shielded(asyncio.wrap_future(self._in_flight))
        self._finish(batch, merged)

    def heartbeat(self) -> None:
        self._place.lease.heartbeat()
        self._last_beat = self._clock()

    def beat_if_due(self) -> None:
        if self._clock() - self._last_beat > self._lease_timeout / 4:
            self.heartbeat()

    def stop(self) -> None:
        """Stop the writer thread (after the last flush: nothing is in flight then)."""
        if self._writes is not None:
            self._writes.shutdown()

    def _worth_compacting(self) -> bool:
        """Whether a run's end compacts, counting the checkpoint it is about to write (`worth_compacting`)."""
        due = 1 if self.dirty else 0
        snapshot_rows = None if self._snapshot is None else self._snapshot.rows
        return worth_compacting(segments=self._own_segments + due, segment_rows=self._own_segment_rows +
                                len(self.dirty), snapshot_rows=snapshot_rows)  # fmt: skip

    def _mark_last_segment(self) -> None:
        """At a run's end that did not compact: record the writer's last segment in its mark, beside its
        snapshot (`high_water`), so losing the segments the run left past the snapshot is a gap too, as
        losing the snapshot a compacting end wrote is. A writer with no snapshot keeps no mark yet."""
        with self._io:
            last, snapshot = self._last_segment, self._snapshot
            if last is None or snapshot is None:
                return
            record(self._place.directory, self._place.writer, version=snapshot.version, rows=snapshot.rows,
                   last=last)  # fmt: skip
            self._last_segment = None

    def _take_version(self) -> int:
        version = self._next_version
        self._next_version += 1
        return version

    def _give_back(self, version: int) -> None:
        """A write at `version` failed with nothing written under its number: the next write takes it.

        A number taken and never written would be a gap in the table's versions, which readers take for a
        deleted file (`versions`). Numbers are taken only while no other write is under way (a checkpoint
        is captured once the last is written; `write_now` waits for it), so the failed one is the last
        taken. The caller holds `_io`."""
        name = data_file_name(self._place.writer, version)
        written = any((self._place.directory / sub / name).exists() for sub in (SEGMENTS, SNAPSHOTS))
        if self._next_version == version + 1 and not written:
            self._next_version = version

    def _capture(self, *, compact: bool) -> Checkpoint | None:
        """Take the changed rows as the next checkpoint, on the owning thread; None if there is nothing to do.

        Called only when no checkpoint is being written, so "nothing changed" means everything is durable.
        """
        compact = compact and not self._place.gaps
        if not self.dirty and not (compact and self._own_segments):
            self.durable = self.changes
            return None
        version = self._take_version()
        keys = tuple(self.dirty)
        rows = [with_version(self._store.overlay[key], version) for key in keys]
        for row in rows:
            self._store.overlay[row.row_key] = row
        table = rows_to_table(rows)
        self._store.written(keys, table)  # before `fold_input`: a compaction folds this checkpoint too
        compact = (compact or self._own_segments + 1 > COMPACT_SEGMENTS) and not self._place.gaps
        fold = self._store.fold_input() if compact else None
        batch = Checkpoint(version, self.changes, keys, table, fold)
        self.dirty.clear()
        return batch

    def _write(self, batch: Checkpoint) -> pa.Table | None:
        """Write a checkpoint (and its compaction) to disk, from any thread; the merged base if it compacted.

        If the write fails, its rows are marked changed again before the lock is released and before the
        next checkpoint can be captured, so that checkpoint carries them.
        """
        with self._io:
            try:
                if batch.keys:
                    self._write_segment(batch.version, batch.table)
                if batch.fold is None:
                    return None
                place = self._place
                merged = merge_written(batch.fold.base, batch.fold.written)
                rows = write_snapshot(
                    place.directory, place.writer, batch.version, merged, keep=place.damaged
                )
                self._own_segments = self._own_segment_rows = 0
                self._snapshot, self._last_segment = Mark(batch.version, rows), None  # marked by it
                return merged
            except BaseException:
                self.dirty.update(batch.keys)
                self._give_back(batch.version)
                raise

    def _write_segment(self, version: int, table: pa.Table) -> None:
        """Write one segment; the caller holds `_io`. The lease is checked again once the segment is
        durable: a holder gone silent past the timeout (stopped, a VM paused) could be taken over, and
        its taker load the table, between the first check and the write, and its `submitting` row,
        unseen by the taker, would go out while the taker sent the same row as pending. A taker writes
        its lease before it loads, so a lease still ours after the write means the taker sees the row."""
        place = self._place
        place.lease.check()
        self.beat_if_due()
        write_state_file(place.directory / SEGMENTS / data_file_name(place.writer, version), table)
        self._own_segments += 1
        self._own_segment_rows += table.num_rows
        self._last_segment = version
        self.last_write = self._clock()
        place.lease.check()  # raised, the commit fails: no create waiting on it leaves

    def _finish(self, batch: Checkpoint, merged: pa.Table | None) -> None:
        self.durable = max(self.durable, batch.changes)
        if merged is not None and batch.fold is not None:
            self._store.fold(batch.fold, merged)
