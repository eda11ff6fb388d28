"""`StateTable`: one writer's handle on a batch's durable state table (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa

from rowrelay.tasks.durable import make_dirs_durable
from rowrelay.tasks.errors import StateError
from rowrelay.tasks.records import DEFAULT_MAX_ATTEMPTS, ROW_STATUSES, RowStatus
from rowrelay.tasks.state.batch import ensure_batch
from rowrelay.tasks.state.changes import apply_change
from rowrelay.tasks.state.checkpoint import Checkpoints, Place
from rowrelay.tasks.state.commit import GroupCommit
from rowrelay.tasks.state.compaction import COMPACT_SEGMENTS
from rowrelay.tasks.state.files import MAIN_WRITER, SEGMENTS, WRITER_NAME
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, Lease, refuse_beside, writer_is_live
from rowrelay.tasks.state.loading import load_for_writer
from rowrelay.tasks.state.options import TableOptions
from rowrelay.tasks.state.orphans import OrphanPolicy, orphan_changes
from rowrelay.tasks.state.schema import RowState, pending_table, to_datetime
from rowrelay.tasks.state.store import RowStore, planned_table, unseen
from rowrelay.tasks.state.transitions import check_transition

__all__ = ["COMPACT_SEGMENTS", "OrphanPolicy", "StateTable", "TableOptions"]


class StateTable:
    """The rows of one batch, as seen and changed by one writer (shard). Not thread-safe: use it from one
    thread (the event loop's); only the file writes of `commit()` run in the table's writer thread (see
    `checkpoint.py`).

        with StateTable.open(Path("data/state/b1"), batch_id="b1") as table:
            table.add_pending([("row-0", 0, "hash0")])
            table.transition("row-0", "submitting")
            table.flush()
    """

    def __init__(self, place: Place, batch_id: str, store: RowStore, checkpoints: Checkpoints,
                 options: TableOptions) -> None:  # fmt: skip
        self.directory = place.directory
        self.batch_id = batch_id
        self.writer = place.writer
        self.problems: list[str] = []
        self.orphaned_at_open = 0
        """Dead runners' `submitting` rows the open made `orphaned`: creates whose job no id names."""
        self.damaged = place.damaged
        """Damaged files skipped at open (`on_corrupt="skip"`): never deleted, not even by compaction."""
        self.lease = place.lease
        self.options = options
        self._clock: Callable[[], float] = options.clock
        self._store = store
        self._checkpoints = checkpoints
        self._closed = False
        self._group = GroupCommit(
            checkpoints, interval=options.checkpoint_interval, rows=options.checkpoint_rows, clock=self._clock
        )

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        batch_id: str | None = None,
        writer: str = MAIN_WRITER,
        lease_timeout: float = LEASE_TIMEOUT,
        checkpoint_interval: float = 0.2,
        checkpoint_rows: int = 1000,
        orphan_policy: OrphanPolicy = "resubmit",
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        on_corrupt: Literal["raise", "skip"] = "raise",
        clock: Callable[[], float] = time.time,
        orphans_among: Collection[str] | None = None,
        beside_writers: bool = False,
    ) -> StateTable:
        """Open (creating if new) a batch directory for `writer`: take its lease, load, recover orphans.
        The main writer is refused (`LeaseHeldError`) while another writer's lease is live (a shard on a
        Dask worker: `lease.live_beside`), unless `beside_writers` (a coordinator reading its shards' rows).

        `orphans_among`: recover only these rows' orphans (a shard's own rows). A shard opening beside
        other shards must leave a dead shard's rows to that shard's rerun (or the next run's planner):
        two writers recovering one row at once could each write it at a version the other does not see.
        """
        options = TableOptions(
            lease_timeout, checkpoint_interval, checkpoint_rows, orphan_policy, max_attempts, clock
        )
        if not WRITER_NAME.match(writer):
            raise ValueError(f"writer name {writer!r}: use letters, digits and _ . = + -")
        directory = Path(directory)
        found_id = ensure_batch(directory, batch_id, clock())
        make_dirs_durable(directory / SEGMENTS)
        lease = Lease.acquire(directory, writer, timeout=lease_timeout, clock=clock)
        try:
            if writer == MAIN_WRITER and not beside_writers:
                refuse_beside(directory, lease, lease_timeout)
            loaded = load_for_writer(directory, writer, skip_corrupt=on_corrupt == "skip")
        except BaseException:
            lease.release()
            raise
        place = Place(directory, writer, lease, loaded.damaged, loaded.gaps)
        checkpoints = Checkpoints(place, loaded.store, next_version=loaded.next_version, own=loaded.own,
                                  lease_timeout=lease_timeout, clock=clock)  # fmt: skip
        table = cls(place, found_id, loaded.store, checkpoints, options)
        table.problems.extend(loaded.problems)
        if lease.takeover:
            table.problems.append(f"lease: {lease.takeover}")
        table.orphaned_at_open = table._recover_orphans(orphans_among)
        table.flush()
        return table

    def _recover_orphans(self, among: Collection[str] | None) -> int:
        """Recover dead runners' `submitting` rows (see `orphans`), asking the leases; how many orphaned."""
        heartbeat, timeout = self.lease.info.heartbeat, self.options.lease_timeout

        def is_live(other: str) -> bool:
            return writer_is_live(self.directory, other, heartbeat, timeout)

        submitting = {
            row.row_key: row for row in self.rows(["submitting"]) if among is None or row.row_key in among
        }
        policy, max_attempts = self.orphan_policy, self.options.max_attempts
        changes = orphan_changes(
            submitting.values(), writer=self.writer, is_live=is_live, policy=policy, max_attempts=max_attempts
        )
        for change in changes:
            # from the row in hand: looking each up again read a block of the base per row (half the cost)
            self._change(submitting[change.row_key], change.status, change.fields)
        return sum(change.status == "orphaned" for change in changes)

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

    @property
    def orphan_policy(self) -> OrphanPolicy:
        return self.options.orphan_policy

    def keys_with_status(
        self,
        statuses: Collection[RowStatus],
        names: Sequence[str] = (),
        accept: Callable[[pa.Table], Any] | None = None,
        among: Collection[str] | None = None,
    ) -> list[str]:
        """Keys of the rows in `statuses`, in row_index order (vectorized; cheap even at 1M rows).

        With `accept`, only the rows it accepts: it gets those rows' `names` columns as Arrow and returns
        one boolean per row (a decision over many rows, with no `RowState` per row; see `run.plan`).
        With `among`, only rows with those keys, at a cost that follows `among` rather than the table.
        """
        return self._store.keys(statuses, names, accept, among)

    def columns(self, statuses: Collection[RowStatus] | None, names: Sequence[str]) -> pa.Table:
        """The named columns of the rows in `statuses` (or all), in row_index order, as Arrow: what a
        decision over many rows reads without building a `RowState` per row (see `run.plan`)."""
        return self._store.columns(statuses, names)

    def latest(self) -> pa.Table:
        """Every row's latest state as Arrow, by row_index: what `load` would read back from the files,
        without reading them (also after `close`, e.g. for the export and summary of a run)."""
        return self._store.latest()

    def counts(self) -> dict[RowStatus, int]:
        """Rows per status (every status present, zeros included)."""
        return {status: self._store.counts.get(status, 0) for status in ROW_STATUSES}

    def counts_of(self, keys: Collection[str]) -> dict[str, int]:
        """The rows `keys` (a shard's, or those a plan holds back) per status, only the statuses they are
        in; keys the table does not hold are not counted."""
        return self._store.counts_among(keys)

    # -- changing --------------------------------------------------------------------------------------

    def add_pending(self, rows: Iterable[tuple[str, int, str]] | pa.Table) -> int:
        """Add the rows not yet in the table as `pending` (durably, as one segment); returns how many.

        `rows`: (row_key, row_index, input_hash) tuples, or an Arrow table of those columns (a big batch's
        way: no Python object per row). Existing rows are untouched. Call it once with all rows: each
        call appends to the in-memory base.
        """
        fresh = unseen(planned_table(rows), self._store.key_column())
        if not fresh.num_rows:
            return 0
        self._check_open()
        now = to_datetime(self._clock())
        table = self._checkpoints.write_now(lambda version: pending_table(fresh, now, self.writer, version))
        self._store.append(table)
        return fresh.num_rows

    def transition(self, row_key: str, status: RowStatus, **fields: Any) -> RowState:
        """Move a row to `status` (checked against the transition table), setting `fields`."""
        self._check_open()
        return self._change(self.get(row_key), status, fields)

    def edited_back(self, row_key: str, **fields: Any) -> RowState:
        """A row whose input was edited back to pending, completed too (`transitions.EDITED_BACK`)."""
        self._check_open()
        return self._change(self.get(row_key), "pending", fields, edited=True)

    def _change(
        self, old: RowState, status: RowStatus, fields: Mapping[str, Any], *, edited: bool = False
    ) -> RowState:
        """`transition` of a row whose latest state `old` the caller holds."""
        hold = self.orphan_policy == "hold"
        check_transition(old.row_key, old.status, status, hold_orphans=hold, edited=edited)
        new = apply_change(old, status, fields, now=to_datetime(self._clock()), writer=self.writer)
        self._store.put(old, new)
        if self._checkpoints.changed(old.row_key) >= self.options.checkpoint_rows:
            self._group.wake()
        return new

    def update(self, row_key: str, **fields: Any) -> RowState:
        """Set fields without changing status (e.g. the stream cursor `sequence_number`)."""
        return self.transition(row_key, self.get(row_key).status, **fields)

    # -- checkpoints -----------------------------------------------------------------------------------

    @property
    def changes(self) -> int:
        """Changes made so far (a counter)."""
        return self._checkpoints.changes

    @property
    def durable(self) -> int:
        """How many of `changes` are known to be on disk."""
        return self._checkpoints.durable

    @property
    def pending_rows(self) -> int:
        """Distinct rows changed since the last checkpoint."""
        return self._checkpoints.pending_rows

    @property
    def last_write(self) -> float:
        return self._checkpoints.last_write

    def flush(self, *, compact: bool = False) -> int:
        """Write every changed row now, as one segment, durably; returns the number of rows written.
        `compact`: fold this writer's files into a snapshot too, whatever `close` would decide."""
        written = self._checkpoints.flush(compact=compact)
        return 0 if written is None else len(written.keys)

    async def commit(self, *, urgent: bool = False) -> None:
        """Return once every change made before the call is durable (group commit, see `commit.py`).

        `urgent`: write without waiting out the commit interval (a response id just learnt: until it is
        durable, a crash would leave a paid job nobody can find). Also keeps the lease alive while
        nothing changes (a runner waiting on long responses).
        """
        self._checkpoints.beat_if_due()
        await self._group.commit(urgent=urgent)

    async def maybe_commit(self) -> None:
        """Commit only if `checkpoint_interval` elapsed or `checkpoint_rows` changes are pending."""
        self._checkpoints.beat_if_due()
        await self._group.maybe_commit()

    async def write_pending(self) -> None:
        """Write the changed rows now in the writer thread (what the group commit's leader calls)."""
        await self._checkpoints.write_pending()

    def heartbeat(self) -> None:
        """Refresh the lease's heartbeat now (checkpoints also do it, every `lease_timeout / 4`)."""
        self._checkpoints.heartbeat()

    # -- lifecycle -------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StateError(f"state table {self.directory} ({self.writer}) is closed")

    def close(self) -> None:
        """Final flush, compaction of this writer's files if worth it (`compaction.worth_compacting`),
        lease release. Idempotent."""
        if self._closed:
            return
        try:
            self._checkpoints.flush(end=True)
        finally:
            self._closed = True
            self._checkpoints.stop()
            self.lease.release()

    def __enter__(self) -> StateTable:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()
