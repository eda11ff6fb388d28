"""The creates a run lost the answer of: the orphans its rows counted between the table's open and the end.

A row's `orphans` counts every create of every run whose answer never named its job. The closing line on
possible duplicate jobs (`outcome.possible_duplicates`) read that total, so a batch that had lost one
answer said so again at the close of every later run, one that sent nothing included, and a scheduled
deployment logged it every night. It now says what this run added: each row's orphans at its end less
what the row held when the run opened the table. A killed run's `submitting` rows are counted by the open
itself (`state.orphans`), before this is read: they are the killed run's, which `rowrelay status` counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.state import StateTable

__all__ = ["LostAnswers", "lost_this_run", "orphans_at_open"]

_AT_OPEN = "orphans_at_open"
_NONE = pa.scalar(0, pa.int64())


@dataclass(frozen=True)
class LostAnswers:
    """Creates of one run whose answer was lost, and the rows they belong to."""

    creates: int = 0
    rows: int = 0


def orphans_at_open(table: StateTable) -> pa.Table:
    """`row_key` and `orphans` of the rows holding any as the run opens `table`: the baseline of
    `lost_this_run` (most batches have few such rows, or none)."""
    held = table.columns(None, ("row_key", "orphans"))
    return held.filter(pc.greater(held.column("orphans"), _NONE)).rename_columns(["row_key", _AT_OPEN])


def lost_this_run(at_open: pa.Table, at_end: pa.Table) -> LostAnswers:
    """The orphans `at_end` (each row's latest state) holds beyond `at_open`'s, by row: never below
    none for a row (a row's orphans do not fall within a run, and a fall is no create found again)."""
    ended = at_end.select(["row_key", "orphans"])
    ended = ended.filter(pc.greater(ended.column("orphans"), _NONE))
    if ended.num_rows == 0:
        return LostAnswers()
    joined = ended.join(at_open, "row_key", join_type="left outer")
    before: Any = pc.fill_null(joined.column(_AT_OPEN), _NONE)
    added: Any = pc.max_element_wise(pc.subtract(joined.column("orphans"), before), _NONE)
    creates: int = pc.sum(added).as_py() or 0
    rows: int = pc.sum(pc.greater(added, _NONE).cast("int64")).as_py() or 0
    return LostAnswers(creates, rows)
