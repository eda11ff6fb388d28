"""rowrelay's shared vocabulary: row statuses, the closed sets of them the layers agree on, policies and
error types. Each set is defined here once and imported; nothing else spells one out.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, get_args

DEFAULT_HOME = Path("~/.rowrelay")
"""Where rowrelay keeps its own files when ROWRELAY_HOME is unset (the settings' default, and what the
`rowrelay` command reads before it imports the settings)."""
DEFAULT_STATE_DIR = Path("data/state")
"""Where a run keeps its batch's state when no `--state` is given and ROWRELAY_STATE_DIR is unset (the
settings' default, and where `status` and the other state commands look for a batch not named)."""

RowStatus = Literal[
    "pending",  # planned, never sent
    "submitting",  # durably marked before its create is sent (write-ahead)
    "queued",  # the server holds it: response_id known, not started
    "in_progress",  # the server is working on it
    "completed",  # output and usage recorded; never sent again
    "failed",  # ended with an error (server, client or attempts exhausted)
    "incomplete",  # ended early (e.g. max_output_tokens); output kept
    "cancelled",  # cancelled on request (ours or the server's)
    "expired",  # the server no longer holds its response (404 on the token)
    "orphaned",  # its create may have started a job nobody can see (a crash mid-create, no answer)
]
ROW_STATUSES: tuple[RowStatus, ...] = get_args(RowStatus)

HOLDING_TOKEN: frozenset[RowStatus] = frozenset({"queued", "in_progress"})
"""Rows whose continuation token is durable and whose response the server may still be working on:
a run waits on these first (poll, or stream from the saved cursor) before sending anything new."""
IN_FLIGHT: frozenset[RowStatus] = HOLDING_TOKEN | {"submitting"}
"""Rows sent (or being sent) that have not ended: what progress shows as in flight."""
ENDED: frozenset[RowStatus] = frozenset({"completed", "failed", "incomplete", "cancelled"})
"""Rows a response has ended; only `failed` ones, and `cancelled` ones a stopping run cancelled, may be sent
again automatically (see SENDABLE)."""
SENDABLE: tuple[RowStatus, ...] = ("pending", "orphaned", "expired", "failed", "cancelled")
"""Statuses a run may (re)send; whether it does is the run plan's one decision (`run.plan.wants_submit`),
by the row's attempts, error type and the orphan and expired policies."""
NOT_COMPLETED: tuple[RowStatus, ...] = ("failed", "incomplete", "cancelled", "expired", "orphaned")
"""Statuses of rows that ended, or were given up on, without an answer: what `rowrelay status` lists as
not completed, and what `rowrelay retry` may make eligible again. Rows still waiting to be sent or on their
response (pending, submitting, queued, in_progress) went wrong in no way yet."""
CUT_AT_CEILING: frozenset[str] = frozenset({"incomplete: max_output_tokens", "incomplete: length"})
"""The `error_message` of a row that ended `incomplete` at its output token ceiling (`--max-output-tokens`):
the Responses API's reason (`llm.snapshots`), Chat Completions' `finish_reason` (`llm.chat_answers`). Sent
again at the same ceiling, such a row most likely ends the same way, and is paid for again."""
RETRY_BY_DEFAULT: tuple[RowStatus, ...] = ("failed", "incomplete", "expired", "orphaned")
"""What `rowrelay retry` makes eligible again unless told otherwise: back to `pending`, their attempts kept
(`attempts` never decreases; `tasks.state.retrying`). A pending row is always sent, so each such row gets
one create more, and is sent again after that only while it has attempts left under `--max-attempts`."""

WaitMode = Literal["poll", "stream"]
"""How a run waits for background responses."""
POLL_STREAMS = 256
"""Poll mode's responses followed on their create's stream at once (the `poll_streams` setting): such a
row costs no poll and is seen the moment it ends, for a connection held while it runs. A few hundred
cover a batch's first rows (the scouts whose latencies every other row is polled by) and, at moderate
rates, most rows; past that the rest are polled, so a batch of tens of thousands in flight holds no more
connections than this (tests/benchmarks/bench_cli.py: 1,000 rows at 0.92 polls a row where 64 streams
spent 1.15 and none 1.24; 5,000 rows at 0.67 and 1.0). Long answers stop it (`run.pace.STREAM_EVENTS`)."""
Policy = Literal["resubmit", "hold"]
"""What a run does with an orphaned or expired row: send it again (within its attempts), or hold it for a
person (`rowrelay retry`)."""

ErrorType = Literal[
    # refused as invalid (400/422), or its response failed for the row's own input (error_code kept:
    # invalid_prompt, an image it cannot take; llm.failed_responses): never re-sent automatically
    "rejected",
    "transient",  # a create failed in a way that started nothing (429 aside): sent again at once
    "maybe_created",  # a create got no answer: it may have started a job; counted as an orphan
    "queued_timeout",  # queued on the server past `queued_timeout`: cancelled, sent again
    "response_failed",  # the response ended `failed` (the server's error code is kept): sent again
    "expired",  # the server no longer holds the response
    "incomplete",  # the response ended early (output kept)
    "cancelled",  # the response was cancelled (`rowrelay cancel`, or by the server)
    "interrupted",  # cancelled as its run stopped (Ctrl-C, SIGTERM, a flow cancellation): sent again
    "internal",  # a bug in rowrelay met this row: recorded, so the batch goes on
    "bad_input",  # the row's input cannot make a request (e.g. an empty prompt)
    "invalid_json",  # structured outputs: the answer is not JSON (its text kept)
    "schema_mismatch",  # structured outputs: the answer is JSON that breaks the schema (its text kept)
    "refusal",  # the model refused to answer (a `refusal` content part): never re-sent automatically
    "no_answer",  # paid, and holds no answer (a chat tool call, no content, no choice): never re-sent
]
ERROR_TYPES: tuple[ErrorType, ...] = get_args(ErrorType)
NEVER_RESENT: frozenset[ErrorType] = frozenset({"rejected", "bad_input", "refusal", "no_answer"})
"""Error types whose rows stay failed until a person asks (`rowrelay retry`): the same input would fail
the same way (a refusal too, most likely, an answer with no answer in it, and a response failed for the
row's own input, `llm.failed_responses`: each one is paid for). Older releases read the same state table
and send again a failed row of a type they do not know: a new kind of failure never to be sent again
takes one of these types (its `error_code` can tell it apart), not a type of its own."""


DEFAULT_MAX_ATTEMPTS = 3
"""Creates per row a run takes unless told otherwise (`--max-attempts`), and what a reader takes for a
batch whose run record does not say (one written before it did, or none). Written here alone: the
settings' default, `RowPolicy`'s and the state table's (`TableOptions`, `StateTable.open`) are this."""


def cancel_sent_again(error_type: str | None, attempts: int | None, max_attempts: int) -> bool:
    """Whether the next run sends again a row that ended `cancelled`: only work a stopping run cut short
    (`interrupted`), and only while the row has attempts left; a cancel asked for (`rowrelay cancel`, or
    the server's) stays. The one place this is decided: the run plan (`run.plan.wants_submit`) sends by
    it, and `status`'s projection (`state.reader`) counts such rows as not ended by it, each with the
    batch's `max_attempts`."""
    return error_type == "interrupted" and (attempts or 0) < max_attempts


def failed_sent_again(error_type: str | None, attempts: int | None, max_attempts: int) -> bool:
    """Whether a run sends again a row that ended `failed`: while it has attempts left, unless its error is
    one the same input would meet again (`NEVER_RESENT`). A run sends such a row again at once; one a stop
    (Ctrl-C, the cap, an outage) left failed is sent by the next run. The one place this is decided: the
    run plan (`run.plan.wants_submit`) sends by it, and the projection (`state.reader.ended_for_projection`)
    counts such rows as not ended by it, with the batch's `max_attempts`: counted as ended, `status` and the
    progress line projected a stopped batch's cost without the rows the same command sends again."""
    return (attempts or 0) < max_attempts and error_type not in NEVER_RESENT


def ended_sent_again(status: str, error_type: str | None, attempts: int | None, max_attempts: int) -> bool:
    """Whether the next run sends again a row in an ended status (`ENDED`): a cancelled row by
    `cancel_sent_again`, a failed one by `failed_sent_again`; a completed or incomplete row never."""
    if status == "cancelled":
        return cancel_sent_again(error_type, attempts, max_attempts)
    if status == "failed":
        return failed_sent_again(error_type, attempts, max_attempts)
    return False


ENDED_SENT_AGAIN: tuple[RowStatus, ...] = ("failed", "cancelled")
"""The ended statuses whose rows a run may send again (`ended_sent_again`)."""


SAID_CAP = 300
"""The most characters of another's exception text said inside a line of ours (an agent factory's error, a
row's crash): a repr of a whole request or response must not make the line a page."""


def one_line(text: str, cap: int | None = None) -> str:
    """`text` on one line, as every error is said: each run of whitespace, line breaks included, one space
    (Arrow's schema errors print a field a line, pydantic's a problem a line, a script reads the first
    line of stderr). With `cap`, at most that many characters, the last an ellipsis where it was cut."""
    words = " ".join(text.split())
    return words if cap is None or len(words) <= cap else words[: cap - 1] + "…"


def rows(count: int) -> str:
    """`1 row`, `2 rows`, `1,000 rows`: as every message counts rows."""
    return f"{count:,} row" + ("" if count == 1 else "s")


def usd(amount: float) -> str:
    """A dollar amount as every message spells it: cents from a dollar up (`$1,234.57`), four significant
    digits below it (`$0.0123`, `$0.00004567`: a trial of a few rows costs fractions of a cent, which
    `$0.0000` hid), `$0` for nothing."""
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    whole, fraction = f"{amount:.{3 - math.floor(math.log10(abs(amount)))}f}".split(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"
