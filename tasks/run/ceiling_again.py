"""Rows a run sends again that ended `incomplete` at their output token ceiling, at a ceiling no higher.

`rowrelay retry` makes such rows eligible again, as it does any row that did not complete, and the closing
line advised it. A user trial retried 26 rows cut at `--max-output-tokens 40` and ran again at 40: each
wrote to the same ceiling, ended incomplete again and was paid for twice, nothing said. The closing line
and `status` now say so before the retry (`flows.closing_advice.ceiling_said`); the run that sends them
says it too, once, before the first create, so the user can stop it and raise the ceiling.

A row cut at its ceiling used every output token it was allowed (reasoning included): its `output_tokens`
is that ceiling, kept on the row while it waits `pending` (a new create clears it). A run whose own
ceiling is no higher will most likely cut it again. Without a ceiling the model's own limit applies,
unknown here: nothing is said.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.records import CUT_AT_CEILING, RowStatus
from rowrelay.tasks.setting_problems import option_of
from rowrelay.tasks.state import StateTable

log = logging.getLogger("rowrelay.plan")

__all__ = ["warn_if_cut_again"]


def warn_if_cut_again(table: StateTable, sending: Sequence[str], ceiling: int | None) -> int:
    """Warn, once, of the rows among `sending` (the rows this run sends, pending) that ended incomplete
    at an output token ceiling at least as high as this run's `ceiling`; returns how many."""
    if ceiling is None or not sending:
        return 0
    pending: tuple[RowStatus, ...] = ("pending",)
    rows = table.columns(pending, ("row_key", "error_message", "output_tokens"))
    cut: Any = pc.and_(
        pc.is_in(rows.column("error_message"), value_set=pa.array(sorted(CUT_AT_CEILING), pa.string())),
        pc.greater_equal(rows.column("output_tokens"), pa.scalar(ceiling, pa.int64())),
    )
    rows = rows.filter(pc.fill_null(cut, False))
    if not rows.num_rows:
        return 0
    rows = rows.filter(pc.is_in(rows.column("row_key"), value_set=pa.array(list(sending), pa.string())))
    again = rows.num_rows
    if again:
        one = again == 1
        log.warning(
            "%s this run sends again ended incomplete before, at the output token ceiling "
            "(max_output_tokens), and this run's %s, %s, is no higher than the tokens %s wrote then: %s "
            "the same way, most likely, paid for again; stop the run (Ctrl-C) and raise %s (or, for a "
            "reasoning model, lower %s) first",
            "1 row" if one else f"{again:,} rows",
            option_of("max_output_tokens"),
            f"{ceiling:,}",
            "it" if one else "they",
            "it ends" if one else "each ends",
            option_of("max_output_tokens"),
            option_of("reasoning_effort"),
        )
    return again
