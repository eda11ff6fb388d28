"""A tool round's follow-up create, which an agent backend sends inside a poll or a stream, under the rule
every create follows: what may start a paid job is durable before it leaves.

    follow_ups = FollowUps(context)              # tells the backend to ask `leaving` first
    follow_ups.waiting(key, response_id)         # before each call that may read the row's tool calls

A row's own create goes to `submitting` first, and a run that finds a row still `submitting` counts its
create as maybe created. A follow-up leaves with no such step of the row's status: Agent Framework sends
it from inside the call that read the function calls. So the backend tells `leaving`, which writes the
write-ahead note (`follow_up_record.FOLLOW_UP_LEAVING`) and commits it before the create is sent. The
answer naming the new response clears it (`record.moved_on`), and so does a refusal that started
nothing. A note still there when the next follow-up of the same response is about to leave means the last
one's answer never came (the run died, or its stream ended first): that create is counted as maybe
created (an attempt and an orphan) before the tools run and the round is paid for again. A row whose
attempts that spends ends failed, and the new follow-up is not sent (`RowEnded`).

The response that asked for the tools was paid for. A row that moves on counts it then (`moved_on`); a row
that ends on it instead (its follow-up refused, or lost with its last attempt) counts it as it ends, from
the snapshot the backend read it as (told with `leaving`), and against the cost cap at once: it was
counted nowhere, the row's tokens 0 and its cost none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rowrelay.tasks.llm import RequestRejectedError, Snapshot
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run import follow_up_record
from rowrelay.tasks.run.context import RowContext, now
from rowrelay.tasks.run.record import Change

log = logging.getLogger("rowrelay.wait")
LOST_FOLLOW_UP = "a tool round's follow-up create never named its job (its run stopped, or its stream ended)"


@runtime_checkable
class MakesFollowUps(Protocol):
    """A backend whose reads may create (an Agent Framework agent's tool rounds)."""

    def before_follow_ups(self, hook: Callable[[str, Snapshot | None], Awaitable[None]]) -> None:
        """Await `hook(continued, asked)` before each follow-up create: `continued` the id of the response
        it answers, `asked` that response as read (None when not read in the same call)."""


class RowEnded(Exception):  # not an error: the row's state says why
    """The row spent its last attempt on a follow-up whose answer never came: no other is sent."""


@dataclass
class FollowUps:
    """The follow-ups of the rows one `Waiter` waits on, by the response each row waits on."""

    context: RowContext
    _rows: dict[str, str] = field(default_factory=dict)
    """Row key by the response id the row waits on (what a follow-up names as the one it continues)."""
    _waits_on: dict[str, str] = field(default_factory=dict)
    """The other way round: the response id each row waits on."""
    _unanswered: set[str] = field(default_factory=set)
    """Rows whose follow-up left in this run and whose call has not yet said how it went."""
    _asked: dict[str, Snapshot] = field(default_factory=dict)
    """By row key: the response its last follow-up answers, as read, until the row moves on or is done."""

    def __post_init__(self) -> None:
        if isinstance(self.context.background, MakesFollowUps):
            self.context.background.before_follow_ups(self.leaving)

    def waiting(self, key: str, response_id: str) -> None:
        """The row waits on `response_id` from now on (its first, or the follow-up it moved to)."""
        self.done(key)
        self._rows[response_id], self._waits_on[key] = key, response_id

    def done(self, key: str) -> None:
        """The row is no longer waited on in this run (it ended, or the run stopped)."""
        self._asked.pop(key, None)
        if (response_id := self._waits_on.pop(key, None)) is not None:
            self._rows.pop(response_id, None)

    async def leaving(self, continued: str, asked: Snapshot | None = None) -> None:
        """Before a follow-up create answering `continued` (read as `asked`) is sent: durably noted, and
        a note already there (the last one's answer never came) counted first."""
        key = self._rows.get(continued)
        if key is None:
            return  # not a row of this run (the backend used on its own)
        if asked is not None and asked.response_id == continued:
            self._asked[key] = asked
        context = self.context
        row = context.table.get(key)
        if follow_up_record.follow_up_unanswered(row):
            context.lost_answer(LOST_FOLLOW_UP)
            context.apply(key, self._counted_lost(key, LOST_FOLLOW_UP))
            counted = context.table.get(key)
            if counted.status not in HOLDING_TOKEN:
                await context.table.commit(urgent=True)
                raise RowEnded(key)
            row = context.table.get(key)
        context.apply(key, follow_up_record.follow_up_leaving(row))
        context.counters.follow_ups += 1
        self._unanswered.add(key)
        await context.table.commit(urgent=True)  # durable before the create leaves

    def answered(self, key: str) -> None:
        """The follow-up's answer named its job: the row moved on (`record.moved_on` clears the note, and
        counts the response it left)."""
        self._unanswered.discard(key)
        self._asked.pop(key, None)

    def lost(self, key: str, message: str) -> bool:
        """Count a follow-up create that got no answer naming its job (an attempt and an orphan, its note
        replaced by the count); True when the row has now ended, its attempts spent."""
        self._unanswered.discard(key)
        self.context.lost_answer(message)
        change = self._counted_lost(key, message)
        self.context.apply(key, change)
        return change.status not in HOLDING_TOKEN

    def _counted_lost(self, key: str, message: str) -> Change:
        """The row with a lost follow-up counted (`follow_up_maybe_created`); when that ends it, the
        response that asked for the tools is counted as paid."""
        row, max_attempts = self.context.table.get(key), self.context.policy.max_attempts
        if not follow_up_record.follow_up_ends_row(row, max_attempts=max_attempts):
            return follow_up_record.follow_up_maybe_created(row, message, now(), max_attempts=max_attempts)
        asked, cost = self._paid(key)
        return follow_up_record.follow_up_maybe_created(
            row, message, now(), max_attempts=max_attempts, asked=asked, cost=cost
        )

    def _paid(self, key: str) -> tuple[Snapshot | None, float | None]:
        """The response the row's follow-up answers, which the row ends on, and its cost, now counted
        against the cap as spent (`Spend.paid_round`); taken once, so never counted twice."""
        asked = self._asked.pop(key, None)
        if asked is None or asked.response_id != self.context.table.get(key).response_id:
            return None, None
        return asked, self.context.spend.paid_round(key, asked)

    def refused(self, key: str, exc: RequestRejectedError | RowEnded) -> None:
        """A follow-up refused as invalid (a 400: a tool's output too large for the model, say) fails the
        row as a refused create does, said in one line: the same tools would meet the same refusal. It
        was a traceback and `internal`. (`RowEnded`: the row already says how it ended.)"""
        self.not_sent(key)
        if isinstance(exc, RowEnded):
            return
        log.warning("row %s: the server refused its tool round's follow-up: %s", key, exc)
        asked, cost = self._paid(key)
        row, max_attempts = self.context.table.get(key), self.context.policy.max_attempts
        failure = follow_up_record.follow_up_refused(
            row, str(exc), now(), max_attempts=max_attempts, asked=asked, cost=cost
        )
        self.context.apply(key, failure)

    def not_sent(self, key: str) -> None:
        """The call failed in a way that started no job: a follow-up it sent (if any) started nothing."""
        if key in self._unanswered:
            self._unanswered.discard(key)
            row = self.context.table.get(key)
            if follow_up_record.follow_up_unanswered(row):
                self.context.apply(key, follow_up_record.follow_up_not_sent(row))
