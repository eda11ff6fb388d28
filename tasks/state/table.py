"""`StateTable`: one writer's handle on a batch's durable state table (see the package docstring)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa

from rowrelay.tasks.errors import StateError
from rowrelay.tasks.records import ROW_STATUSES, RowStatus
from rowrelay.tasks.state.batch import ensure_batch
from rowrelay.tasks.state.changes import apply_change
from rowrelay.tasks.state.commit import GroupCommit
from rowrelay.tasks.state.compaction import write_snapshot
from rowrelay.tasks.state.files import (
    SEGMENTS,
    WRITER_NAME,
    data_file_name,
    remove_own_temps,
    version_in_name,
)
from rowrelay.tasks.state.lease import Lease
from rowrelay.tasks.state.orphans import recover_orphans
from rowrelay.tasks.state.schema import RowState, pending_table, rows_to_table, to_datetime
from rowrelay.tasks.state.segments import read_latest, write_state_file
from rowrelay.tasks.state.store import RowStore, merge_overlay, unseen
from rowrelay.tasks.state.transitions import check_transition

OrphanPolicy = Literal["resubmit", "hold"]
COMPACT_SEGMENTS = 64
"""A writer folds its segments into a snapshot once it has more than this many."""


@dataclass(frozen=True, slots=True)
class _Batch:
    """One checkpoint, captured on the owning thread: written later, possibly in a worker thread."""

    version: int
    changes: int
    keys: tuple[str, ...]
    table: pa.Table
    fold: tuple[pa.Table, dict[int, RowState]] | None


class StateTable:
    """The rows of one batch, as seen and changed by one writer (shard). Not thread-safe: use it from one
    thread (the event loop's); only the file writes of `commit()` run in a worker thread.

        with StateTable.open(Path("data/state/b1"), batch_id="b1") as table:
            table.add_pending([("row-0", 0, "hash0")])
            table.transition("row-0", "submitting")
            table.flush()
    """

    def __init__(self, directory: Path, batch_id: str, writer: str, lease: Lease, store: RowStore,
                 next_version: int, own_segments: int, options: dict[str, Any]) -> None:  # fmt: skip
        self.directory = directory
        self.batch_id = batch_id
        self.writer = writer
        self.problems: list[str] = []
        self.damaged: list[Path] = []
        """Damaged files skipped at open (`on_corrupt="skip"`): never deleted, not even by compaction."""
        self.lease = lease
        self._store = store
        self._next_version = next_version
        self._own_segments = own_segments
        self._clock: Callable[[], float] = options["clock"]
        self._lease_timeout: float = options["lease_timeout"]
        self.orphan_policy: OrphanPolicy = options["orphan_policy"]
        self._dirty: set[str] = set()
        self._changes = 0
        self._durable = 0
        self._last_write: float = self._clock()
        self._last_beat: float = self._last_write
        self._io = threading.Lock()
        self._closed = False
        self._group = GroupCommit(
            self, interval=options["checkpoint_interval"], rows=options["checkpoint_rows"], clock=self._clock
        )
        self._checkpoint_rows: int = options["checkpoint_rows"]

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        batch_id: str | None = None,
        writer: str = "main",
        lease_timeout: float = 60.0,
        checkpoint_interval: float = 0.2,
        checkpoint_rows: int = 1000,
        orphan_policy: OrphanPolicy = "resubmit",
        on_corrupt: Literal["raise", "skip"] = "raise",
        clock: Callable[[], float] = time.time,
    ) -> StateTable:
        """Open (creating if new) a batch directory for `writer`: take its lease, load, recover orphans."""
        if not WRITER_NAME.match(writer):
            raise ValueError(f"writer name {writer!r}: use letters, digits and _ . = + -")
        directory = Path(directory)
        found_id = ensure_batch(directory, batch_id, clock())
        (directory / SEGMENTS).mkdir(exist_ok=True)
        lease = Lease.acquire(directory, writer, timeout=lease_timeout, clock=clock)
        try:
            remove_own_temps(directory, writer)
            latest, files, damaged, problems = read_latest(
                directory, skip_corrupt=on_corrupt == "skip", dedupe=False
            )
        except BaseException:
            lease.release()
            raise
        versions = [f.version for f in files] + [version_in_name(p) for p in damaged]
        if latest.num_rows:
            versions.append(int(pa.compute.max(latest.column("version")).as_py()))
        own = sum(1 for f in files if f.writer == writer and not f.snapshot)
        options = {
            "lease_timeout": lease_timeout,
            "checkpoint_interval": checkpoint_interval,
            "checkpoint_rows": checkpoint_rows,
            "orphan_policy": orphan_policy,
            "clock": clock,
        }
        table = cls(directory, found_id, writer, lease, RowStore(latest), max(versions, default=0) + 1, own,
                    options)  # fmt: skip
        table.problems.extend(problems)
        table.damaged.extend(damaged)
        if lease.takeover:
            table.problems.append(f"lease: {lease.takeover}")
        recover_orphans(table, lease_timeout=lease_timeout)
        table.flush()
        return table

    # -- reading ---------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, row_key: object) -> bool:
        return row_key in self._store

    def get(self, row_key: str) -> RowState:
        """The latest state of a row (`KeyError` if the table has no such row)."""
        if row_key not in self._store:
            raise KeyError(f"no row {row_key!r} in batch {self.batch_id!r}")
        return self._store.get(row_key)

    def rows(self, statuses: Collection[RowStatus] | None = None) -> Iterator[RowState]:
        """Rows (in `statuses`, or all) in row_index order, as they were when called."""
        return self._store.rows(statuses)

    def keys_with_status(self, statuses: Collection[RowStatus]) -> list[str]:
        """Keys of the rows in `statuses`, in row_index order (vectorized; cheap even at 1M rows)."""
        return self._store.keys(statuses)

    def submittable_keys(self) -> list[str]:
        """Rows a run may submit now: pending, plus orphaned unless `orphan_policy` is "hold"."""
        wanted: list[RowStatus] = ["pending"] if self.orphan_policy == "hold" else ["pending", "orphaned"]
        return self._store.keys(wanted)

    def counts(self) -> dict[RowStatus, int]:
        """Rows per status (every status present, zeros included)."""
        return {status: self._store.counts.get(status, 0) for status in ROW_STATUSES}

    # -- changing --------------------------------------------------------------------------------------

    def add_pending(self, rows: Iterable[tuple[str, int, str]]) -> int:
        """Add the rows not yet in the table as `pending` (durably, as one segment); returns how many.

        Existing rows are untouched. Call it once with all rows: each call appends to the in-memory base.
        """
        keys, indexes, hashes = unseen(list(rows), self._store.keys_view())
        if not keys:
            return 0
        self._check_open()
        with self._io:
            version = self._take_version()
            table = pending_table(keys, indexes, hashes, to_datetime(self._clock()), self.writer, version)
            self._write_segment(version, table)
        self._store.append(table)
        return len(keys)

    def transition(self, row_key: str, status: RowStatus, **fields: Any) -> RowState:
        """Move a row to `status` (checked against the transition table), setting `fields`."""
        self._check_open()
        old = self.get(row_key)
        check_transition(row_key, old.status, status, hold_orphans=self.orphan_policy == "hold")
        new = apply_change(old, status, fields, now=to_datetime(self._clock()), writer=self.writer)
        self._store.put(old, new)
        self._dirty.add(row_key)
        self._changes += 1
        if len(self._dirty) >= self._checkpoint_rows:
            self._group.wake()
        return new

    def update(self, row_key: str, **fields: Any) -> RowState:
        """Set fields without changing status (e.g. the stream cursor `sequence_number`)."""
        return self.transition(row_key, self.get(row_key).status, **fields)

    # -- checkpoints -----------------------------------------------------------------------------------

    @property
    def changes(self) -> int:
        return self._changes

    @property
    def durable(self) -> int:
        return self._durable

    @property
    def pending_rows(self) -> int:
        return len(self._dirty)

    @property
    def last_write(self) -> float:
        return self._last_write

    def flush(self, *, compact: bool = False) -> int:
        """Write every changed row now, as one segment, durably; returns the number of rows written."""
        batch = self._begin(compact=compact)
        if batch is None:
            return 0
        merged = self._write_and_release(batch)
        self._finish(batch, merged)
        return len(batch.keys)

    async def commit(self) -> None:
        """Return once every change made before the call is durable (group commit, see `commit.py`).

        Also keeps the lease alive while nothing changes (a runner waiting on long responses).
        """
        self._beat_if_due()
        await self._group.commit()

    async def maybe_commit(self) -> None:
        """Commit only if `checkpoint_interval` elapsed or `checkpoint_rows` changes are pending."""
        self._beat_if_due()
        await self._group.maybe_commit()

    async def write_pending(self) -> None:
        batch = self._begin(compact=False)
        if batch is not None:
            merged = await asyncio.to_thread(self._write_and_release, batch)
            self._finish(batch, merged)

    def heartbeat(self) -> None:
        """Refresh the lease's heartbeat now (checkpoints also do it, every `lease_timeout / 4`)."""
        self.lease.heartbeat()
        self._last_beat = self._clock()

    def _beat_if_due(self) -> None:
        if self._clock() - self._last_beat > self._lease_timeout / 4:
            self.heartbeat()

    def _take_version(self) -> int:
        version = self._next_version
        self._next_version += 1
        return version

    def _begin(self, *, compact: bool) -> _Batch | None:
        """Capture the dirty rows as the next checkpoint; holds the I/O lock unless there is nothing to do."""
        self._io.acquire()
        if not self._dirty and not (compact and self._own_segments):
            self._durable = self._changes
            self._io.release()
            return None
        version = self._take_version()
        rows = [dataclasses.replace(self._store.overlay[key], version=version) for key in self._dirty]
        for row in rows:
            self._store.overlay[row.row_key] = row
        compact = compact or self._own_segments + 1 > COMPACT_SEGMENTS
        fold = self._store.fold_input() if compact else None
        batch = _Batch(version, self._changes, tuple(self._dirty), rows_to_table(rows), fold)
        self._dirty.clear()
        return batch

    def _write_and_release(self, batch: _Batch) -> pa.Table | None:
        """Write a checkpoint (and compaction) to disk; any thread. Releases the I/O lock."""
        try:
            if batch.keys:
                self._write_segment(batch.version, batch.table)
            if batch.fold is None:
                return None
            merged = merge_overlay(*batch.fold)
            write_snapshot(self.directory, self.writer, batch.version, merged, keep=self.damaged)
            self._own_segments = 0
            return merged
        except BaseException:
            self._dirty.update(batch.keys)  # before releasing: the next checkpoint must carry them
            raise
        finally:
            self._io.release()

    def _write_segment(self, version: int, table: pa.Table) -> None:
        self.lease.check()
        self._beat_if_due()
        write_state_file(self.directory / SEGMENTS / data_file_name(self.writer, version), table)
        self._own_segments += 1
        self._last_write = self._clock()

    def _finish(self, batch: _Batch, merged: pa.Table | None) -> None:
        self._durable = max(self._durable, batch.changes)
        if merged is not None and batch.fold is not None:
            self._store.fold(batch.fold[0], merged, batch.fold[1])

    # -- lifecycle -------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StateError(f"state table {self.directory} ({self.writer}) is closed")

    def close(self) -> None:
        """Final flush, compaction of this writer's files, lease release. Idempotent."""
        if self._closed:
            return
        try:
            self.flush(compact=True)
        finally:
            self._closed = True
            self.lease.release()

    def __enter__(self) -> StateTable:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()
