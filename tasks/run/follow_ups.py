"""A tool round's follow-up create, which an agent backend sends inside a poll or a stream, under the rule
every create follows: what may start a paid job is durable before it leaves.

    follow_ups = FollowUps(context)              # tells the backend to ask `leaving` first
    follow_ups.waiting(key, response_id)         # before each call that may read the row's tool calls

A row's own create goes to `submitting` first, and a run that finds a row still `submitting` counts its
create as maybe created. A follow-up leaves with no such step of the row's status: Agent Framework sends
it from inside the call that read the function calls. So the backend tells `leaving`, which writes the
write-ahead note (`record.FOLLOW_UP_LEAVING`) and commits it before the create is sent. The answer naming
the new response clears it (`record.moved_on`), and so does a refusal that started nothing. A note still
there when the next follow-up of the same response is about to leave means the last one's answer never
came (the run died, or its stream ended first): that create is counted as maybe created (an attempt and
an orphan) before the tools run and the round is paid for again. A row whose attempts that spends ends
failed, and the new follow-up is not sent (`RowEnded`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rowrelay.tasks.llm import RequestRejectedError
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run import record
from rowrelay.tasks.run.context import RowContext, now

log = logging.getLogger("rowrelay.wait")
LOST_FOLLOW_UP = "a tool round's follow-up create never named its job (its run stopped, or its stream ended)"


@runtime_checkable
class MakesFollowUps(Protocol):
    """A backend whose reads may create (an Agent Framework agent's tool rounds)."""

    def before_follow_ups(self, hook: Callable[[str], Awaitable[None]]) -> None:
        """Await `hook(continued)` before each follow-up create, `continued` the response it answers."""


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

    def __post_init__(self) -> None:
        if isinstance(self.context.background, MakesFollowUps):
            self.context.background.before_follow_ups(self.leaving)

    def waiting(self, key: str, response_id: str) -> None:
        """The row waits on `response_id` from now on (its first, or the follow-up it moved to)."""
        self.done(key)
        self._rows[response_id], self._waits_on[key] = key, response_id

    def done(self, key: str) -> None:
        """The row is no longer waited on in this run (it ended, or the run stopped)."""
        if (response_id := self._waits_on.pop(key, None)) is not None:
            self._rows.pop(response_id, None)

    async def leaving(self, continued: str) -> None:
        """Before a follow-up create answering `continued` is sent: durably noted, and a note already
        there (the last one's answer never came) counted first."""
        key = self._rows.get(continued)
        if key is None:
            return  # not a row of this run (the backend used on its own)
        context = self.context
        row = context.table.get(key)
        if record.follow_up_unanswered(row):
            context.lost_answer(LOST_FOLLOW_UP)
            counted = record.follow_up_maybe_created(
                row, LOST_FOLLOW_UP, now(), max_attempts=context.policy.max_attempts
            )
            context.apply(key, counted)
            if counted.status not in HOLDING_TOKEN:
                await context.table.commit(urgent=True)
                raise RowEnded(key)
            row = context.table.get(key)
        context.apply(key, record.follow_up_leaving(row))
        self._unanswered.add(key)
        await context.table.commit(urgent=True)  # durable before the create leaves

    def answered(self, key: str) -> None:
        """The follow-up's answer named its job: the row moved on (`record.moved_on` clears the note)."""
        self._unanswered.discard(key)

    def lost(self, key: str, message: str) -> bool:
        """Count a follow-up create that got no answer naming its job (an attempt and an orphan, its note
        replaced by the count); True when the row has now ended, its attempts spent."""
        self._unanswered.discard(key)
        context = self.context
        context.lost_answer(message)
        row = context.table.get(key)
        change = record.follow_up_maybe_created(row, message, now(), max_attempts=context.policy.max_attempts)
        context.apply(key, change)
        return change.status not in HOLDING_TOKEN

    def refused(self, key: str, exc: RequestRejectedError | RowEnded) -> None:
        """A follow-up refused as invalid (a 400: a tool's output too large for the model, say) fails the
        row as a refused create does, said in one line: the same tools would meet the same refusal. It
        was a traceback and `internal`. (`RowEnded`: the row already says how it ended.)"""
        self.not_sent(key)
        if isinstance(exc, RowEnded):
            return
        log.warning("row %s: the server refused its tool round's follow-up: %s", key, exc)
        row, policy = self.context.table.get(key), self.context.policy
        failure = record.failed(
            "rejected", None, str(exc), row.attempts, now(), max_attempts=policy.max_attempts
        )
        self.context.apply(key, failure)

    def not_sent(self, key: str) -> None:
        """The call failed in a way that started no job: a follow-up it sent (if any) started nothing."""
        if key in self._unanswered:
            self._unanswered.discard(key)
            row = self.context.table.get(key)
            if record.follow_up_unanswered(row):
                self.context.apply(key, record.follow_up_not_sent(row))
