"""What a row becomes: pure functions from what was seen (a snapshot, an error) to the row's next state.

Nothing here does I/O or reads a clock: `now` is a parameter, and each function returns a `Change` that
the driver applies with `table.transition(key, change.status, **change.fields)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rowrelay.tasks.citations import citations_text
from rowrelay.tasks.errors import seconds_said
from rowrelay.tasks.llm import Snapshot
from rowrelay.tasks.llm.failed_responses import failure_kind, failure_message
from rowrelay.tasks.llm.structured import OutputSchema
from rowrelay.tasks.records import NEVER_RESENT, ErrorType, Policy, RowStatus
from rowrelay.tasks.state import RowState, orphan_note
from rowrelay.tasks.state.orphans import ANSWER_TIMEOUT
from rowrelay.tasks.token_logprobs import logprobs_text

INTERRUPTED = "cancelled as its run stopped; the next run sends it again if it has attempts left"
"""What a row cancelled by its run's stop says (`cancel.cancel_in_flight` marks it so)."""


@dataclass(frozen=True)
class Change:
    """A row's next status and the fields that change with it."""

    status: RowStatus
    fields: dict[str, object] = field(default_factory=dict)


def ended(
    snapshot: Snapshot,
    row: RowState,
    now: datetime,
    *,
    max_attempts: int,
    output_schema: OutputSchema | None = None,
    cost: float | None = None,
    last_event: int | None = None,
) -> Change:
    """The row a terminal snapshot leaves: completed with its output, failed, incomplete or cancelled.

    A completed answer that is a refusal, or (with `output_schema`) not JSON or not valid against the
    schema, fails the row instead, its text kept: paid for, so on record, and retried by policy.
    `cost` (what this response cost, if known) is added to what the row's earlier attempts cost;
    `last_event`, the terminal event's sequence number when the end was streamed, is the row's cursor.
    A row that moved on through tool rounds already holds what their responses used (`moved_on`):
    this one's usage is added to it, so the row's tokens are those of every response it paid for."""
    told: dict[str, object] = {  # what the response told, kept whatever the row becomes
        **_usage(snapshot, row if row.previous_response_ids is not None else None),
        "service_tier": snapshot.service_tier,
    }
    if snapshot.reasoning_summary is not None:
        told["reasoning_summary"] = snapshot.reasoning_summary
    if snapshot.citations:
        told["citations"] = citations_text(snapshot.citations)
    if snapshot.logprobs:
        told["logprobs"] = logprobs_text(snapshot.logprobs)
    if cost is not None:
        told["cost_usd"] = (row.cost_usd or 0.0) + cost
    if last_event is not None:
        told["sequence_number"] = last_event
    if snapshot.status == "completed" and (problem := _answer_problem(snapshot, output_schema)):
        failure = failed(problem[0], None, problem[1], row.attempts, now, max_attempts=max_attempts)
        return Change(failure.status, {**failure.fields, "output_text": snapshot.output_text, **told})
    if snapshot.status == "completed":
        cleared = {"error_type": None, "error_code": None, "error_message": None, "note": None}
        return Change(
            "completed", {"output_text": snapshot.output_text, "completed_at": now, **cleared, **told}
        )
    if snapshot.status == "failed":
        message = failure_message(snapshot, attempts_left=row.attempts < max_attempts)
        failure = failed(
            failure_kind(snapshot), snapshot.error_code, message, row.attempts, now, max_attempts=max_attempts
        )
        return Change(failure.status, {**failure.fields, **told})
    # incomplete or cancelled: kept as they are; `rowrelay retry` makes them eligible again. A stopping
    # run marks a row interrupted before it sends the row's cancel (`cancel.cancel_in_flight`): found
    # cancelled (its cancel's answer unheard, or carried out later), it is the work that stop cut short,
    # which the next run sends again.
    interrupted = snapshot.status == "cancelled" and row.error_type == "interrupted"
    kind: ErrorType = "incomplete" if snapshot.status == "incomplete" else "cancelled"
    return Change(
        snapshot.status,
        {
            "output_text": snapshot.output_text,
            "completed_at": now,
            "error_type": "interrupted" if interrupted else kind,
            "error_code": snapshot.error_code,
            "error_message": INTERRUPTED if interrupted else snapshot.error_message or snapshot.status,
            **told,
        },
    )


def _usage(snapshot: Snapshot, added_to: RowState | None) -> dict[str, object]:
    """`snapshot`'s usage columns, added to the row's when `added_to` is given (null only where neither
    holds a value). Only a row that moved on holds usage while it waits, and `-> submitting` clears it
    with the chain of ids: what an earlier attempt used is never added to this one's."""
    told = {
        "input_tokens": snapshot.input_tokens,
        "output_tokens": snapshot.output_tokens,
        "reasoning_tokens": snapshot.reasoning_tokens,
        "cached_input_tokens": snapshot.cached_tokens,
        "tool_calls": sum(snapshot.tool_calls.values()) if snapshot.tool_calls else None,
    }
    if added_to is None:
        return {name: value for name, value in told.items() if name != "tool_calls" or value is not None}
    return {name: _plus(getattr(added_to, name), value) for name, value in told.items()}


def _plus(held: object, more: int | None) -> int | None:
    if not isinstance(held, int):
        return more
    return held if more is None else held + more


def _answer_problem(snapshot: Snapshot, output_schema: OutputSchema | None) -> tuple[ErrorType, str] | None:
    if snapshot.refusal is not None:
        return "refusal", f"the model refused: {snapshot.refusal}"
    return None if output_schema is None else output_schema.problem(snapshot.output_text)


def failed(
    kind: ErrorType, code: str | None, message: str | None, attempts: int, now: datetime, *, max_attempts: int
) -> Change:
    """A failed row, with a note when it has used up its attempts (and so will not be sent again)."""
    exhausted = kind not in NEVER_RESENT and attempts >= max_attempts
    return Change(
        "failed",
        {
            "error_type": kind,
            "error_code": code,
            "error_message": message or kind,
            "completed_at": now,
            "note": f"gave up after {attempts} attempts" if exhausted else None,
        },
    )


def stuck(
    row: RowState, elapsed: float, not_cancelled: str | None, now: datetime, *, max_attempts: int
) -> Change:
    """A response still queued past the queued timeout: the row fails, sent again within its attempts. If
    the cancel did not take (`not_cancelled` says why: refused, or the response still queued), its job may
    yet run and be paid for beside the one sent again: counted as a possible duplicate (`orphans`)."""
    if not_cancelled is None:
        message = f"still queued after {elapsed:.0f}s; cancelled"
        return failed("queued_timeout", None, message, row.attempts, now, max_attempts=max_attempts)
    message = f"still queued after {elapsed:.0f}s; the cancel did not take ({not_cancelled})"
    failure = failed("queued_timeout", None, message, row.attempts, now, max_attempts=max_attempts)
    note = failure.fields["note"] or "not cancelled: it may still run, counted as a possible duplicate"
    return Change(failure.status, {**failure.fields, "orphans": row.orphans + 1, "note": note})


RETAINED_AT_LEAST = 600.0
"""Seconds every server keeps a response it made: OpenAI keeps a background response about 10 minutes to
be polled even unstored (a stored one, as rowrelay's creates ask, 30 days), vLLM until it restarts."""


def lost_young(row: RowState, now: datetime, *, emulated: bool) -> float | None:
    """The age in seconds of the row's response when a 404 on it is the server losing it, not an expiry:
    younger than `RETAINED_AT_LEAST`, no server has let it go, so its job may still run, and be paid for.
    None: an expiry (made long ago, or at an unknown time), or an emulator's (`emulated`: its responses
    cost nothing, and die with it, so a restarted embedded emulator holds none of them, whatever their
    age). The one place a 404 is judged, whether a poll (`wait_ends.gone`) or a cancel met it."""
    if emulated or row.submitted_at is None:
        return None
    age = (now - row.submitted_at).total_seconds()
    return age if age < RETAINED_AT_LEAST else None


def made_ago(age: float) -> str:
    """'moments', '20s': how long ago a response was made, for a sentence."""
    return "moments" if age < 1 else seconds_said(round(age))


def unfound(row: RowState, message: str, now: datetime, *, emulated: bool) -> str | None:
    """Why a 404 on the row's response stops the run, or None when it is an expiry (`lost_young`): the
    server does not find the responses it makes, and every row would be created, and paid for, again."""
    if (age := lost_young(row, now, emulated=emulated)) is None:
        return None
    return (
        f"the server does not find a response it made {made_ago(age)} ago ({message}), though servers keep "
        f"them at least {seconds_said(RETAINED_AT_LEAST)}: it loses the responses it makes (replicas behind "
        "a load balancer that each keep their own, a gateway that does not route polls), and each row would "
        "be created, and paid for, again; rows keep their response ids"
    )


def unfound_way_on() -> str:
    """What the user of a run `unfound` stopped does next: fix the way polls go, or, where the server
    lost its responses for good (a self-hosted one restarted), wait: the line said only "fix that", and
    a restarted server has nothing to fix, so every run stopped the same way until the responses were
    old enough to be taken as expired (README, "What happens to a row")."""
    return (
        "fix that, then run it again; a server that lost them for good (restarted) has them recorded "
        f"expired, and sent again by ROWRELAY_EXPIRED_POLICY, by a run {seconds_said(RETAINED_AT_LEAST)} "
        "after the last was made"
    )


def expired(message: str) -> Change:
    """The server no longer holds the row's response (404 on its token)."""
    note = "the server no longer holds this response"
    return Change("expired", {"error_type": "expired", "error_message": message, "note": note})


def maybe_created(
    row: RowState, message: str, *, max_attempts: int, policy: Policy, code: str | None = None
) -> Change:
    """A create whose answer did not name its job may have started a paid one: it spends an attempt and
    counts an orphan (a possible duplicate), with the reason; the row is sent again only within its
    attempts, and its note says whether it will be. `code`: why, where it decides the row's fate
    (`state.orphans.ANSWER_TIMEOUT` holds it); always written, so an earlier one never lingers."""
    attempts = row.attempts + 1
    what = _ANSWER_TOO_SLOW if code == ANSWER_TIMEOUT else "the create got no answer naming its job"
    return Change(
        "orphaned",
        {
            "attempts": attempts,
            "orphans": row.orphans + 1,
            "error_type": "maybe_created",
            "error_code": code,
            "error_message": message,
            "note": orphan_note(what, attempts, max_attempts, policy, code),
        },
    )


_ANSWER_TOO_SLOW = (
    "the create's answer took longer than a timeout allowed (the chat timeout, ROWRELAY_CHAT_TIMEOUT, or a "
    "gateway's in front of the server: its error says which), and the same prompt most likely would again"
)


def moved_on(
    row: RowState,
    response_id: str,
    cursor: int | None,
    answered: Snapshot | None = None,
    cost: float | None = None,
) -> Change:
    """The row's work went on in a new response (an agent answered a response's tool calls with a new,
    paid, one): from now on the row waits on that one, and the earlier ids stay on record. Its create
    named its job, so the write-ahead note of its leaving (`follow_up_record`) goes.

    `answered`: the response left, as it ended (`Snapshot.answers`), and `cost`, what it cost: its usage
    and cost are added to the row's in this same change, which also moves `response_id` off it, so each
    response is counted exactly once whatever crashes or replays (a response the row no longer waits on
    is never added again; one whose move was not written is added when the row moves on from it). The
    row's usage columns hold, while it waits, what its tool rounds' responses used so far; before, they
    were the last response's alone, and every round's tokens and cost went uncounted."""
    chain = " ".join(part for part in (row.previous_response_ids, row.response_id) if part)
    fields: dict[str, object] = {
        "response_id": response_id,
        "previous_response_ids": chain,
        "sequence_number": cursor,
        "note": None,
    }
    return Change(row.status, {**fields, **paid_for(row, answered, cost)})


def paid_for(row: RowState, answered: Snapshot | None, cost: float | None) -> dict[str, object]:
    """`answered`'s usage and cost added to the row's, if it is the response the row waits on."""
    if answered is None or answered.response_id != row.response_id:
        return {}
    fields = _usage(answered, row)
    if cost is not None:
        fields["cost_usd"] = (row.cost_usd or 0.0) + cost
    return fields


def accepted(snapshot: Snapshot, row: RowState, now: datetime, *, cursor: int | None, model: str) -> Change:
    """The server answered a create: the row holds its token (or, from a foreground backend, its end)."""
    fields: dict[str, object] = {
        "response_id": snapshot.response_id,
        "attempts": row.attempts + 1,
        "sequence_number": cursor,
        "model": snapshot.model or model,
    }
    # A foreground backend's answer is already terminal: `ended` decides what the row becomes (a
    # completed answer may still fail its schema), so the row waits one step in `in_progress`. Its
    # `submitted_at` stays the moment it was sent (`-> submitting`): set at the answer, a Chat
    # Completions row's latency read 0, the whole answer having come with it.
    if snapshot.terminal:
        return Change("in_progress", fields)
    return Change(snapshot.status, {**fields, "submitted_at": now})
