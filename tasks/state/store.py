"""The in-memory latest state: an immutable Arrow `base` plus an `overlay` of rows changed since.

Building a million Python objects at load takes seconds and a gigabyte, so rows live as Arrow columns and a
`RowState` is materialized on demand (one row: ~20 µs; many: column by column). A change puts the new
`RowState` in the overlay and marks the base row as shadowed; a compaction folds the overlay back into a
fresh base (same positions), so the overlay stays as small as the work since the last compaction.
Positions in the base never move: new rows are appended, folds replace values in place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.state.folding import Fold, Written, merge_overlay
from rowrelay.tasks.state.schema import (
    COLUMNS,
    SCHEMA,
    RowState,
    column_values,
    table_to_rows,
    value_counts,
)

_CHUNK = 4096
_BLOCK = 32
"""Base rows are read this many at a time: a row alone costs ~40 µs (a scalar per column), a block of 32
~1.5 µs a row, and a run reads rows in order, each two or three times before its first change."""
_BLOCKS_KEPT = 256
_STATUS = COLUMNS.index("status")


def last_versions(keys: pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """Positions of each key's last occurrence, keys in order of first appearance (vectorized: a dict of
    every version's key would cost a Python string per version)."""
    encoded: Any = pc.dictionary_encode(keys).combine_chunks()
    last = np.full(len(encoded.dictionary), -1, dtype=np.int64)
    np.maximum.at(last, encoded.indices.to_numpy(), np.arange(len(keys), dtype=np.int64))
    return pa.array(last)


def winners(versions: pa.Table) -> pa.Table:
    """The last version of each row, given every version in ascending version order."""
    last = last_versions(versions.column("row_key"))
    return versions if len(last) == versions.num_rows else versions.take(last)


class RowStore:
    """Latest state of every row; every key is in the base, the overlay only shadows base rows."""

    def __init__(self, versions: pa.Table) -> None:
        """Build from the latest version of every row (`winners`: one row per key)."""
        self._keys: list[str] = versions.column("row_key").to_pylist()  # type: ignore[assignment]
        self._pos: dict[str, int] = dict(zip(self._keys, range(len(self._keys)), strict=True))
        if len(self._pos) != len(self._keys):
            raise ValueError("RowStore takes one version per row: pass `winners(versions)`")
        self._set_base(versions)
        self._shadow: npt.NDArray[np.bool_] = np.zeros(len(self._pos), dtype=bool)
        self.overlay: dict[str, RowState] = {}
        self._written: list[Written] = []  # checkpoints since the base was installed, in version order
        self.counts: Counter[str] = Counter(value_counts(self.base.column("status")))

    def _set_base(self, base: pa.Table) -> None:
        self.base = base
        self._arrays: list[Any] = list(base.columns)  # chunked: combining 1M rows would cost ~1 s
        self._blocks: dict[int, list[RowState]] = {}  # read base rows, by block; oldest first

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, key: object) -> bool:
        return key in self._pos

    def key_column(self) -> pa.ChunkedArray[Any]:
        """Every key, as Arrow (the base holds every row; the overlay only shadows some)."""
        return self.base.column("row_key")

    def position(self, key: str) -> int:
        return self._pos[key]

    def get(self, key: str) -> RowState:
        row = self.overlay.get(key)
        if row is not None:
            return row
        block, offset = divmod(self._pos[key], _BLOCK)
        rows = self._blocks.get(block)
        if rows is None:
            rows = self._read_block(block)
        return rows[offset]

    def _read_block(self, block: int) -> list[RowState]:
        """Materialize one block of base rows (kept until the base is replaced: it is immutable till then)."""
        columns = [column_values(array.slice(block * _BLOCK, _BLOCK)) for array in self._arrays]
        rows = list(map(RowState._make, zip(*columns, strict=True)))
        if len(self._blocks) >= _BLOCKS_KEPT:
            del self._blocks[next(iter(self._blocks))]
        self._blocks[block] = rows
        return rows

    def put(self, old: RowState, new: RowState) -> None:
        """Record `new` as the latest state of its row (which `old` was)."""
        self.overlay[new.row_key] = new
        self._shadow[self._pos[new.row_key]] = True
        if old.status != new.status:
            self.counts[old.status] -= 1
            self.counts[new.status] += 1

    def append(self, table: pa.Table) -> None:
        """Add brand-new rows (keys not yet present) at the end of the base."""
        start = len(self._pos)
        keys: list[str] = table.column("row_key").to_pylist()  # type: ignore[assignment]
        self._pos.update(zip(keys, range(start, start + len(keys)), strict=True))
        self._keys.extend(keys)
        self._set_base(pa.concat_tables([self.base, table]) if self.base.num_rows else table)
        self._shadow = np.concatenate([self._shadow, np.zeros(len(keys), dtype=bool)])
        self.counts.update(value_counts(table.column("status")))

    def _select(
        self, statuses: Collection[RowStatus] | None, among: Collection[str] | None = None
    ) -> tuple[Any, list[RowState], Any]:
        """(base positions, overlay rows, order over both by row_index) of rows in `statuses` (and with
        a key in `among`, if given: then the cost follows `among`, not the table)."""
        if among is None:
            keep = ~self._shadow
            over_rows: Iterable[RowState] = self.overlay.values()
        else:
            known = np.array(sorted(self._pos[k] for k in among if k in self._pos), dtype=np.int64)
            keep = np.zeros(len(self._pos), dtype=bool)
            keep[known[~self._shadow[known]]] = True
            over_rows = [self.overlay[k] for k in among if k in self.overlay]
        if statuses is not None:
            wanted = pa.array(sorted(statuses), pa.string())
            if among is None:
                keep &= pc.is_in(self._arrays[_STATUS], value_set=wanted).to_numpy(zero_copy_only=False)
            else:
                candidates = np.flatnonzero(keep)
                status = self._arrays[_STATUS].take(candidates)
                keep[candidates] = pc.is_in(status, value_set=wanted).to_numpy(zero_copy_only=False)
        positions = np.flatnonzero(keep)
        over = [r for r in over_rows if statuses is None or r.status in statuses]
        indexes = self.base.column("row_index").take(positions).to_numpy()
        indexes = np.concatenate([indexes, np.array([r.row_index for r in over], dtype=np.int64)])
        return positions, over, np.argsort(indexes, kind="stable")

    def keys(
        self,
        statuses: Collection[RowStatus] | None,
        names: Sequence[str] = (),
        accept: Callable[[pa.Table], Any] | None = None,
        among: Collection[str] | None = None,
    ) -> list[str]:
        """Keys of the rows in `statuses` (and in `among`) by row_index; with `accept`, only where `accept`
        (given the rows' `names` columns) says true. The key strings are the store's own, not copies."""
        positions, over, order = self._select(statuses, among)
        every = self._keys
        keys = [every[p] for p in positions.tolist()]
        keys.extend(r.row_key for r in over)
        if accept is not None:
            mask = np.asarray(accept(self._columns(positions, over, names)), dtype=bool)
            order = order[mask[order]]
        return [keys[i] for i in order.tolist()]

    def counts_among(self, keys: Collection[str]) -> dict[str, int]:
        """The rows `keys` per status, only the statuses they are in (column by column: a `RowState` per
        key cost ~20 µs, 20 s for a million)."""
        positions, over, _ = self._select(None, keys)
        counts = Counter(value_counts(self._arrays[_STATUS].take(positions)))
        counts.update(row.status for row in over)
        return dict(counts)

    def columns(self, statuses: Collection[RowStatus] | None, names: Sequence[str]) -> pa.Table:
        """The named columns of the rows in `statuses`, by row_index, as Arrow (no `RowState` per row)."""
        positions, over, order = self._select(statuses)
        return self._columns(positions, over, names).take(order)

    def _columns(self, positions: Any, over: list[RowState], names: Sequence[str]) -> pa.Table:
        """The named columns of base `positions` then `over`, in that order."""
        from_base = self.base.select(list(names)).take(positions)
        if not over:
            return from_base
        fields = [SCHEMA.field(name) for name in names]
        changed = pa.Table.from_arrays(
            [pa.array([getattr(r, f.name) for r in over], f.type) for f in fields], schema=pa.schema(fields)
        )
        return pa.concat_tables([from_base, changed])

    def rows(self, statuses: Collection[RowStatus] | None) -> Iterator[RowState]:
        """Rows in `statuses` by row_index, as they were when called (a consistent snapshot)."""
        positions, over, order = self._select(statuses)
        base, n_base = self.base, len(positions)
        for start in range(0, len(order), _CHUNK):
            chunk = order[start : start + _CHUNK]
            from_base = chunk[chunk < n_base]
            materialized = iter(table_to_rows(base.take(positions[from_base])))
            for i in chunk.tolist():
                yield next(materialized) if i < n_base else over[i - n_base]

    def latest(self) -> pa.Table:
        """The latest state of every row as one Arrow table, by row_index (the overlay folded in)."""
        return merge_overlay(self.base, self._overlay_by_position()).sort_by("row_index")

    def _overlay_by_position(self) -> dict[int, RowState]:
        return {self._pos[k]: row for k, row in self.overlay.items()}

    def written(self, keys: Sequence[str], table: pa.Table) -> None:
        """Note a checkpoint's rows (`keys`, in `table`'s order) as written, for the next compaction."""
        positions = np.fromiter((self._pos[k] for k in keys), dtype=np.int64, count=len(keys))
        self._written.append(Written(positions, table))

    def fold_input(self) -> Fold:
        """What a compaction needs, captured now, when every overlay row is in a checkpoint written since
        the base (`written`): a checkpoint's capture notes its rows before it asks."""
        return Fold(self.base, self._overlay_by_position(), tuple(self._written))

    def fold(self, fold: Fold, new_base: pa.Table) -> None:
        """Install a merged base, dropping overlay rows that did not change since it was captured."""
        if self.base is not fold.base:
            return  # rows were appended meanwhile: keep the overlay; the next compaction folds it
        self._set_base(new_base)
        del self._written[: len(fold.written)]  # folded in; the later ones hold rows changed since
        for position, row in fold.overlay.items():
            if self.overlay.get(row.row_key) is row:
                del self.overlay[row.row_key]
                self._shadow[position] = False


PLANNED = pa.schema([SCHEMA.field("row_key"), SCHEMA.field("row_index"), SCHEMA.field("input_hash")])
"""What planning adds: a row's key, its position in the input and its input hash."""


def planned_table(rows: Iterable[tuple[str, int, str]] | pa.Table) -> pa.Table:
    """`rows` as a `PLANNED` table: (row_key, row_index, input_hash) tuples, or a table of those columns."""
    if isinstance(rows, pa.Table):
        return rows.select(PLANNED.names).cast(PLANNED)
    listed = list(rows)
    columns = [list(column) for column in zip(*listed, strict=True)] if listed else [[], [], []]
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, PLANNED, strict=True)],
                                schema=PLANNED)  # fmt: skip


def unseen(planned: pa.Table, known: pa.ChunkedArray[Any]) -> pa.Table:
    """The rows of `planned` whose key is neither in `known` nor repeated earlier in `planned`."""
    keys = planned.column("row_key")
    if not len(known) and pc.count_distinct(keys).as_py() == planned.num_rows:
        return planned  # the common case, vectorized: a first plan
    numbered = planned.append_column("at", pa.array(np.arange(planned.num_rows, dtype=np.int64)))
    firsts = numbered.group_by("row_key", use_threads=False).aggregate([("at", "min")])
    positions = np.sort(firsts.column("at_min").to_numpy())
    if len(known):
        seen = pc.is_in(keys.take(positions), value_set=known)
        positions = positions[~seen.to_numpy(zero_copy_only=False)]
    return planned.take(positions)
