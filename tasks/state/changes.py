"""How one change turns a row's state into the next: pure, with the time passed in.

Besides the fields the caller names, a status change fills in what the table can know by itself:

* `-> submitting` starts a new try: `submitted_at = now`, and the fields of the previous response (id,
  cursor, error, output, usage, completed_at) are cleared, so a crash while submitting can never be
  mistaken for the previous attempt's still-valid response id. `attempts` is the caller's to count:
  rowrelay counts creates that started (or may have started) a job, not creates refused with a 429 or
  5xx, which spend no attempt.
* `-> completed | failed | incomplete | cancelled | expired` sets `completed_at = now` if not given.
* every status change clears `note` unless one is given (a note explains the change it came with).

`attempts` and `orphans` never decrease; identity columns (`row_key`, `row_index`, `status`, `version`,
`writer`, `updated_at`) are not settable through fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rowrelay.tasks.errors import StateError
from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.state.schema import COLUMNS, POSITION, RowState

SETTABLE: frozenset[str] = frozenset(COLUMNS) - {
    "row_key",
    "row_index",
    "status",
    "version",
    "writer",
    "updated_at",
}
_ENDED: frozenset[RowStatus] = frozenset({"completed", "failed", "incomplete", "cancelled", "expired"})
PER_RESPONSE = (
    "response_id",
    "sequence_number",
    "error_type",
    "error_code",
    "error_message",
    "output_text",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "completed_at",
    "previous_response_ids",
    "cached_input_tokens",
    "service_tier",
    "endpoint",
    "reasoning_summary",
    "tool_calls",
    "citations",
    "logprobs",
)
"""Cleared when a row is sent again. Not `cost_usd`: what earlier attempts cost was paid all the same."""
_PER_RESPONSE_AT = tuple(POSITION[name] for name in PER_RESPONSE)
_NOTE, _STATUS, _WRITER = POSITION["note"], POSITION["status"], POSITION["writer"]
_SUBMITTED_AT, _COMPLETED_AT, _UPDATED_AT = (
    POSITION[n] for n in ("submitted_at", "completed_at", "updated_at")
)


def apply_change(
    old: RowState, status: RowStatus, fields: Mapping[str, Any], *, now: datetime, writer: str
) -> RowState:
    """The row after moving to `status` with `fields` set (the move itself is checked elsewhere)."""
    unknown = set(fields) - SETTABLE
    if unknown:
        raise TypeError(f"not settable on a row: {', '.join(sorted(unknown))}")
    values = list(old)  # by position: every row changes three times or more on the hot path
    if status != old.status:
        values[_NOTE] = None
        if status == "submitting":
            for position in _PER_RESPONSE_AT:
                values[position] = None
            values[_SUBMITTED_AT] = now
        elif status in _ENDED:
            values[_COMPLETED_AT] = now
    for name, value in fields.items():
        values[POSITION[name]] = value
    values[_STATUS] = status
    values[_UPDATED_AT] = now
    values[_WRITER] = writer
    for counter in ("attempts", "orphans"):
        was, now_is = getattr(old, counter), values[POSITION[counter]]
        if now_is < was:
            raise StateError(f"row {old.row_key!r}: {counter} may not decrease ({was} -> {now_is})")
    return RowState._make(values)


def new_pending(row_key: str, row_index: int, input_hash: str, *, now: datetime, writer: str) -> RowState:
    """A never-sent row."""
    return RowState(
        row_key, row_index, input_hash, "pending", None, None, 0, 0, None, None, None, None, None, None,
        None, None, None, None, now, None, writer, 0,
    )  # fmt: skip
