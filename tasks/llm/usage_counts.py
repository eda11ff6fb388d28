"""A server's token counts, read defensively where they arrive (`snapshots.snapshot_of` for the Responses
API, `chat_answers` for Chat Completions), before anything counts, prices or writes them.

An OpenAI-compatible server may answer a usage the API never gives: a negative count (`input_tokens: -5`),
a string (`"10"`), a float, a bool, or a count no model can reach (`output_tokens: 10**12`). Copied as it
was, a negative count was written into the state table, whose damage check then refused the table rowrelay
itself wrote (every `run`, `status`, `export` exited 2, and `repair` dropped the segment: every row in it
sent and paid for again); a string crashed its row's pricing on every run, the row stuck in flight; an
absurd count priced one row at $1.6M. So a count that is not a non-negative integer up to its field's
limit (`MOST_INPUT_TOKENS`, `MOST_OUTPUT_TOKENS`) is read as unknown (None), as a usage the server left out
is (its row gets no `cost_usd`; a capped run
counts it at its estimate), and said once a run for each field, with what was wrong with the server's
value (a number as it came; anything else by its type alone: a string may be anything the server chose to
put there, a key it was sent among them, and the warning goes to Prefect's logs): not once a row. A null
count is the server leaving it out, already said where usage is priced (`run.spend`).
"""

from __future__ import annotations

import logging
from typing import Any

from rowrelay.tasks.setting_problems import option_of

log = logging.getLogger("rowrelay.backend")

MOST_INPUT_TOKENS = 100_000_000
"""The largest input count (and cached count) read as one: ten times the largest context window any model
offers (10M tokens), so no response's input can be larger; a count beyond it is the server's mistake, and
priced as it was it would spend a run's whole --max-cost on one row. A count up to it is what the server
billed, and kept as it said it."""
MOST_OUTPUT_TOKENS = 1_000_000
"""The largest output count (and reasoning count, a part of it) read as one: about eight times the most
any model writes in one answer today (128,000, the gpt-5 family's), room for longer ones to come without
losing what they billed, and still far below what a broken server sends (10**12 in a trial). One rule for
what a row records, what it is priced at and what the output estimate learns: with 100M here and 128,000
in the estimate, a count between (50M) was the server's mistake to the estimate and a bill to the row,
priced at $500 on gpt-5, and a --max-cost run stopped on money never spent. Beyond it the row keeps no
count and no cost_usd, and the cap counts it at its estimate; said once a run, with this limit."""
_OUTPUT_FIELDS = frozenset(
    {
        "usage.output_tokens",
        "usage.output_tokens_details.reasoning_tokens",
        "usage.completion_tokens",
        "usage.completion_tokens_details.reasoning_tokens",
    }
)
"""The fields `MOST_OUTPUT_TOKENS` limits, as `token_count`'s callers name them; any other is an input's."""

_told: set[str] = set()
"""The fields said this run (`said_anew` starts a run's)."""


def token_count(value: Any, field: str) -> int | None:
    """`value` if it is a count of tokens (an int, not a bool, from 0 to its field's limit), else None,
    the first such value of `field` this run said in a warning. On the hot path: one type test and one
    set lookup a field."""
    most = MOST_OUTPUT_TOKENS if field in _OUTPUT_FIELDS else MOST_INPUT_TOKENS
    if type(value) is int and 0 <= value <= most:
        return value
    if value is not None and field not in _told:
        _told.add(field)
        log.warning(
            "the server answered %s %s, not a count of tokens (a whole number from 0 to %d): read as "
            "unknown, so such rows get no cost_usd (a %s run counts them at their estimate); said "
            "once a run",
            field,
            _shown(value),
            most,
            option_of("max_cost"),
        )
    return None


def _shown(value: Any) -> str:
    """What a warning says of a count that is none: a number as it came (no number holds a key), anything
    else by its type alone (`usage.input_tokens: "Bearer sk-proj-..."` was logged as it came)."""
    if type(value) in (int, float):
        return str(value)
    return _JSON_TYPES.get(type(value), f"a {type(value).__name__}")


_JSON_TYPES = {str: "a string", bool: "a boolean", dict: "an object", list: "an array"}


def said_anew() -> None:
    """Start a run's warnings: a backend calls it as it opens, so a warm process (a deployment's, a
    notebook's) says a server's odd usage again in each run, not only in its first."""
    _told.clear()
