"""The in-memory latest state: an immutable Arrow `base` plus an `overlay` of rows changed since.

Building a million Python objects at load takes seconds and a gigabyte, so rows live as Arrow columns and a
`RowState` is materialized on demand (one row: ~20 µs; many: column by column). A change puts the new
`RowState` in the overlay and marks the base row as shadowed; a compaction folds the overlay back into a
fresh base (same positions), so the overlay stays as small as the work since the last compaction.
Positions in the base never move: new rows are appended, folds replace values in place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator, KeysView, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.state.schema import COLUMNS, SCHEMA, RowState, rows_to_table, table_to_rows, value_counts

_CHUNK = 4096
_STATUS = COLUMNS.index("status")


def merge_overlay(base: pa.Table, overlay: Mapping[int, RowState]) -> pa.Table:
    """`base` with the rows at the given positions replaced by `overlay` (a pure, vectorized fold)."""
    if not overlay:
        return base
    positions = sorted(overlay)
    mask = np.zeros(base.num_rows, dtype=bool)
    mask[positions] = True
    replacements = rows_to_table([overlay[p] for p in positions])
    arrow_mask = pa.array(mask)
    columns = [
        pc.replace_with_mask(
            base.column(i).combine_chunks(), arrow_mask, replacements.column(i).combine_chunks()
        )
        for i in range(len(COLUMNS))
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


class RowStore:
    """Latest state of every row; every key is in the base, the overlay only shadows base rows."""

    def __init__(self, versions: pa.Table) -> None:
        """Build from every version of every row, in ascending version order: the last one wins."""
        keys: list[str] = versions.column("row_key").to_pylist()  # type: ignore[assignment]
        self._pos: dict[str, int] = dict(zip(keys, range(len(keys)), strict=True))
        if len(self._pos) != len(keys):  # older versions present: keep the winners only
            versions = versions.take(pa.array(list(self._pos.values()), pa.int64()))
            self._pos = dict(zip(self._pos, range(len(self._pos)), strict=True))
        self._set_base(versions)
        self._shadow: npt.NDArray[np.bool_] = np.zeros(len(self._pos), dtype=bool)
        self.overlay: dict[str, RowState] = {}
        self.counts: Counter[str] = Counter(value_counts(self.base.column("status")))

    def _set_base(self, base: pa.Table) -> None:
        self.base = base
        self._arrays: list[Any] = list(base.columns)  # chunked: combining 1M rows would cost ~1 s

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, key: object) -> bool:
        return key in self._pos

    def keys_view(self) -> KeysView[str]:
        return self._pos.keys()

    def position(self, key: str) -> int:
        return self._pos[key]

    def get(self, key: str) -> RowState:
        row = self.overlay.get(key)
        if row is not None:
            return row
        position = self._pos[key]
        return RowState(*[array[position].as_py() for array in self._arrays])

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
        self._set_base(pa.concat_tables([self.base, table]) if self.base.num_rows else table)
        self._shadow = np.concatenate([self._shadow, np.zeros(len(keys), dtype=bool)])
        self.counts.update(value_counts(table.column("status")))

    def _select(self, statuses: Collection[RowStatus] | None) -> tuple[Any, list[RowState], Any]:
        """(base positions, overlay rows, order over both by row_index) of rows in `statuses`."""
        keep = ~self._shadow
        if statuses is not None:
            wanted = pa.array(sorted(statuses), pa.string())
            keep &= pc.is_in(self._arrays[_STATUS], value_set=wanted).to_numpy(zero_copy_only=False)
        positions = np.flatnonzero(keep)
        over = [r for r in self.overlay.values() if statuses is None or r.status in statuses]
        indexes = self.base.column("row_index").take(positions).to_numpy()
        indexes = np.concatenate([indexes, np.array([r.row_index for r in over], dtype=np.int64)])
        return positions, over, np.argsort(indexes, kind="stable")

    def keys(self, statuses: Collection[RowStatus] | None) -> list[str]:
        positions, over, order = self._select(statuses)
        keys: list[str] = self.base.column("row_key").take(positions).to_pylist()  # type: ignore[assignment]
        keys.extend(r.row_key for r in over)
        return [keys[i] for i in order.tolist()]

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
        return merge_overlay(*self.fold_input()).sort_by("row_index")

    def fold_input(self) -> tuple[pa.Table, dict[int, RowState]]:
        """What a compaction needs, captured now: the base and the overlay by position."""
        return self.base, {self._pos[k]: row for k, row in self.overlay.items()}

    def fold(self, old_base: pa.Table, new_base: pa.Table, folded: Mapping[int, RowState]) -> None:
        """Install a merged base, dropping overlay rows that did not change since it was captured."""
        if self.base is not old_base:
            return  # rows were appended meanwhile: keep the overlay; the next compaction folds it
        self._set_base(new_base)
        for position, row in folded.items():
            if self.overlay.get(row.row_key) is row:
                del self.overlay[row.row_key]
                self._shadow[position] = False


def unseen(rows: list[tuple[str, int, str]], known: KeysView[str]) -> tuple[list[str], list[int], list[str]]:
    """Columns of the rows whose key is neither `known` nor repeated earlier in `rows`."""
    if not rows:
        return [], [], []
    keys, indexes, hashes = (list(column) for column in zip(*rows, strict=True))
    if len(dict.fromkeys(keys)) == len(keys) and known.isdisjoint(keys):
        return keys, indexes, hashes  # the common case, at C speed: a first add_pending
    seen = set(known)
    fresh = [i for i, key in enumerate(keys) if not (key in seen or seen.add(key))]  # type: ignore[func-returns-value]
    return [keys[i] for i in fresh], [indexes[i] for i in fresh], [hashes[i] for i in fresh]
