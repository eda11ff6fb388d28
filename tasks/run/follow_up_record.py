"""What a row becomes around a tool round's follow-up create, which an agent sends inside a read: pure
functions, as `record`'s are, for `follow_ups.FollowUps`.
"""

from __future__ import annotations

from datetime import datetime

from rowrelay.tasks.llm import Snapshot
from rowrelay.tasks.run.record import Change, failed, paid_for
from rowrelay.tasks.state import RowState

FOLLOW_UP_LEAVING = (
    "a tool round's follow-up create was sent and has not yet named its job: if this note outlives the "
    "run, the next run counts it as maybe created before it runs the tools again"
)
"""The write-ahead of a tool round's follow-up create, as `submitting` is of a row's own create: written
durably before AF sends it (inside a poll or a stream), gone when its answer names the new response."""


def follow_up_leaving(row: RowState) -> Change:
    """A tool round's follow-up create is about to leave (`FOLLOW_UP_LEAVING`)."""
    return Change(row.status, {"note": FOLLOW_UP_LEAVING})


def follow_up_unanswered(row: RowState) -> bool:
    """Whether a follow-up create left from the row's response and its answer never came back: the run
    that sent it stopped first (a crash, a kill), or its stream ended before naming the job."""
    return row.note == FOLLOW_UP_LEAVING


def follow_up_not_sent(row: RowState) -> Change:
    """The follow-up's create was refused before anything started (a 429, a refused connection, a 400):
    no job to count, so the write-ahead note goes."""
    return Change(row.status, {"note": None})


def follow_up_ends_row(row: RowState, *, max_attempts: int) -> bool:
    """Whether a lost follow-up create (`follow_up_maybe_created`) spends the row's last attempt."""
    return row.attempts + 1 >= max_attempts


def follow_up_maybe_created(
    row: RowState,
    message: str,
    now: datetime,
    *,
    max_attempts: int,
    asked: Snapshot | None = None,
    cost: float | None = None,
) -> Change:
    """A create made while waiting (an agent's tool round) got no answer naming its job: it spends an
    attempt and counts a possible duplicate; with attempts left the row keeps waiting on its token (the
    next look makes the round again), else it fails with a note, the response that asked (`asked`, and
    its `cost`), paid for, counted."""
    counted = {"attempts": row.attempts + 1, "orphans": row.orphans + 1}
    if follow_up_ends_row(row, max_attempts=max_attempts):
        gave_up = failed("maybe_created", None, message, counted["attempts"], now, max_attempts=max_attempts)
        return Change(gave_up.status, {**gave_up.fields, **counted, **paid_for(row, asked, cost)})
    note = "a follow-up create got no answer naming its job: it may have started one rowrelay cannot see"
    return Change(
        row.status, {**counted, "error_type": "maybe_created", "error_message": message, "note": note}
    )


def follow_up_refused(
    row: RowState,
    message: str,
    now: datetime,
    *,
    max_attempts: int,
    asked: Snapshot | None,
    cost: float | None,
) -> Change:
    """A tool round's follow-up refused as invalid (a 400): the row fails as a refused create does, and
    the response that asked for the tools (`asked`, and its `cost`), paid for, is counted."""
    failure = failed("rejected", None, message, row.attempts, now, max_attempts=max_attempts)
    return Change(failure.status, {**failure.fields, **paid_for(row, asked, cost)})
