"""The creates a run lost the answer of: the orphans its rows counted between the table's open and the end.

A row's `orphans` counts every create of every run whose answer never named its job. The closing line on
possible duplicate jobs (`outcome.possible_duplicates`) read that total, so a batch that had lost one
answer said so again at the close of every later run, one that sent nothing included, and a scheduled
deployment logged it every night. It now says what this run added: each row's orphans at its end less
what the row held when the run opened the table. A killed run's `submitting` rows are counted by the open
itself (`state.orphans`), before this is read: they are the killed run's, which `rowrelay status` counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.orphans import ANSWER_TIMEOUT

__all__ = ["LostAnswers", "SentAgain", "lost_this_run", "orphans_at_open", "sent_again"]

_AT_OPEN = "orphans_at_open"
_ATTEMPTS_AT_OPEN = "attempts_at_open"
_CODE_AT_OPEN = "error_code_at_open"
_NONE = pa.scalar(0, pa.int64())


@dataclass(frozen=True)
class LostAnswers:
    """Creates of one run whose answer was lost, and the rows they belong to."""

    creates: int = 0
    rows: int = 0


@dataclass(frozen=True)
class SentAgain:
    """Rows a run sent again whose earlier creates (of runs before it, a killed one's included) lost their
    answers: each of those creates may have started a job the server ran and bills, so the row may be paid
    for twice. `usd`: what those creates may have cost, as the cost cap counts them (`Spend.count_orphans`:
    the row's prompt and the run's output estimate at its endpoint's price); None without a price."""

    rows: int = 0
    creates: int = 0
    usd: float | None = None
    timed_out: int = 0
    """Of `rows`, those whose lost create was cut by a timeout while the server wrote its answer (the
    chat timeout or a gateway's: `error_code` answer_timeout, held, then `rowrelay retry`), not by a run
    killed or cut off while sending: the closing line says which."""


def orphans_at_open(table: StateTable) -> pa.Table:
    """`row_key`, `orphans`, `attempts` and `error_code` of the rows holding orphans as the run opens
    `table`: the baseline of `lost_this_run` and `sent_again` (most batches have few such rows, or none)."""
    held = table.columns(None, ("row_key", "orphans", "attempts", "error_code"))
    held = held.filter(pc.greater(held.column("orphans"), _NONE))
    return held.rename_columns(["row_key", _AT_OPEN, _ATTEMPTS_AT_OPEN, _CODE_AT_OPEN])


def sent_again(
    at_open: pa.Table, at_end: pa.Table, estimate: Callable[[list[str]], float | None]
) -> SentAgain:
    """The rows of `at_open` (`orphans_at_open`) this run sent again (their attempts grew by the end,
    `at_end` each row's latest state), their earlier lost creates, and what those may have cost
    (`estimate` of their keys: the cap's figures, `LostCreates.earlier_of`). After a kill -9 the same
    command sends the killed run's rows again and said nothing of it: only `status` counted orphans."""
    if at_open.num_rows == 0:
        return SentAgain()
    ended = at_end.select(["row_key", "attempts"])
    joined = at_open.join(ended, "row_key", join_type="inner")
    sent = joined.filter(pc.greater(joined.column("attempts"), joined.column(_ATTEMPTS_AT_OPEN)))
    if sent.num_rows == 0:
        return SentAgain()
    keys = [str(key) for key in sent.column("row_key").to_pylist()]
    creates: int = pc.sum(sent.column(_AT_OPEN)).as_py() or 0
    timed_out = sent.column(_CODE_AT_OPEN).to_pylist().count(ANSWER_TIMEOUT)
    return SentAgain(len(keys), creates, estimate(keys), timed_out)


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
