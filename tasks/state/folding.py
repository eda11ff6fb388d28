"""How a compaction folds the rows changed since the base into a new base, in Arrow, positions unmoved:
from the rows in memory (`merge_overlay`, for a read of the latest state), or from the checkpoints that
already wrote them (`merge_written`, what a compaction does)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.state.schema import COLUMNS, SCHEMA, RowState, rows_to_table


class Written(NamedTuple):
    """One checkpoint's rows as it wrote them: their positions in the base, and their Arrow table."""

    positions: npt.NDArray[np.int64]
    table: pa.Table


@dataclass(frozen=True, slots=True)
class Fold:
    """What a compaction needs, captured on the owning thread: the base, the overlay by position, and the
    same rows as the checkpoints since the base wrote them (`written`, in version order)."""

    base: pa.Table
    overlay: dict[int, RowState]
    written: tuple[Written, ...]


def merge_overlay(base: pa.Table, overlay: Mapping[int, RowState]) -> pa.Table:
    """`base` with the rows at the given positions replaced by `overlay` (a pure, vectorized fold)."""
    if not overlay:
        return base
    positions = sorted(overlay)
    return _replaced(base, positions, rows_to_table([overlay[p] for p in positions]))


def merge_written(base: pa.Table, written: Sequence[Written]) -> pa.Table:
    """`base` with the rows the checkpoints `written` wrote, each row's last: what `merge_overlay` makes of
    the same rows, from the Arrow tables already written. Building them again from Python values cost
    17 ms of CPU, all of it holding the GIL, for 2,700 rows changed over 40 checkpoints; this costs 7 ms,
    mostly in Arrow kernels that release it. In the writer thread, beside an event loop reading a few
    thousand streams (tests/benchmarks/bench_tier5.py), the first stretched to 0.1-0.2 s of the loop's
    time per compaction."""
    if not any(len(w.positions) for w in written):
        return base
    positions = np.concatenate([w.positions for w in written])
    # Each position's last occurrence, positions ascending: np.unique keeps the first index of each value.
    ascending, first_from_end = np.unique(positions[::-1], return_index=True)
    last = len(positions) - 1 - first_from_end
    return _replaced(base, ascending, pa.concat_tables([w.table for w in written]).take(last))


def _replaced(base: pa.Table, positions: Sequence[int] | npt.NDArray[np.int64], replacements: pa.Table
              ) -> pa.Table:  # fmt: skip
    """`base` with the rows at `positions` (ascending, distinct) replaced by `replacements`, in order."""
    mask = np.zeros(base.num_rows, dtype=bool)
    mask[positions] = True
    arrow_mask = pa.array(mask)
    columns = [
        pc.replace_with_mask(
            base.column(i).combine_chunks(), arrow_mask, replacements.column(i).combine_chunks()
        )
        for i in range(len(COLUMNS))
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)
