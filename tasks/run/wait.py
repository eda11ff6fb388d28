"""Waiting on a row that holds a token: poll on the adaptive schedule, or stream and resume from the
durable cursor after drops, until the response ends (or is gone, or stuck in the queue). Poll mode's
streamed rows (`run.pace.Pace.streamed`) are followed on their create's stream and polled after a drop.

Returns the terminal snapshot to record, or None when the row's state already says what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from rowrelay.tasks.errors import RateLimitedError, ResponseGoneError, TransientError
from rowrelay.tasks.llm import (
    BackgroundBackend,
    MaybeSentError,
    RequestRejectedError,
    Snapshot,
    StreamErrorEvent,
    StreamUnavailableError,
    StreamUpdate,
)
from rowrelay.tasks.run import record
from rowrelay.tasks.run.context import RowContext, backoff, now, seconds_since
from rowrelay.tasks.run.creating import Live
from rowrelay.tasks.run.follow_ups import FollowUps, RowEnded
from rowrelay.tasks.run.schedule import LatencyModel, completion_estimate, next_poll_delay
from rowrelay.tasks.run.wait_ends import cancel_if_stuck, gone
from rowrelay.tasks.state import RowState

POLL: Literal["poll"] = "poll"
Followed = Snapshot | None | Literal["poll"]
"""What following a stream ends with: as `Waiter.wait`'s answer, or `POLL` to poll the row instead."""
POLLING = 256
"""Rows between the poll budget and the poll's answer at once. A large budget lets thousands of polls
through in one burst (a second of 10^6/min is about 16,700; the budget once held a minute's): with tens of
thousands of rows due, that burst queued on the HTTP pool held a request's objects per row and waited
there past the request timeout. The rest wait here, cheaply and in order, until a few hundred (enough
to keep the pool busy) are on their way."""


@dataclass
class Waiter:
    context: RowContext
    backend: BackgroundBackend
    latencies: LatencyModel = field(default_factory=LatencyModel)
    since: datetime = field(default_factory=now)
    """When this run began: a row created before it (resumed) teaches the scouts' estimate nothing."""
    finished_after: dict[str, float] = field(default_factory=dict)
    """Polled rows: the estimated seconds from submit to the server finishing, for the schedule."""
    last_events: dict[str, int] = field(default_factory=dict)
    """Streamed rows: the sequence number of the terminal event, recorded with the row's end."""
    _polling: asyncio.Semaphore = field(init=False, default_factory=lambda: asyncio.Semaphore(POLLING))
    follow_ups: FollowUps = field(init=False)

    def __post_init__(self) -> None:
        self.follow_ups = FollowUps(self.context)

    async def wait(self, row: RowState, live: Live | None) -> Snapshot | None:
        if self.context.streaming:
            followed = await self._follow(row, live)
        elif live is not None:
            followed = await self._follow_scouting(row, live)
        else:
            return await self._poll(row)
        if followed == POLL:
            return await self._poll(self.context.table.get(row.row_key))
        return followed

    async def _follow_scouting(self, row: RowState, live: Live) -> Followed:
        """Poll mode's streamed row (`Pace.streamed`): followed to its end, and, while no latency is known,
        one of the scouts, whose age is known at every moment. After a drop it is polled: a resumed stream
        would hold a connection poll mode did not set aside."""
        key, submitted = row.row_key, row.submitted_at or now()
        scout = self.context.pace.enlist(self.latencies)
        teaches = scout and submitted >= self.since
        if teaches:
            self.latencies.scouting.following(key, seconds_since(submitted))
        try:
            followed = await self._follow(row, live)
            if teaches and isinstance(followed, Snapshot) and followed.status == "completed":
                self.latencies.scouting.ended(key, seconds_since(submitted))
            return followed
        finally:
            self.context.pace.discharge(scout)
            self.latencies.scouting.left(key)

    async def _poll(self, row: RowState) -> Snapshot | None:
        scout = self.context.pace.enlist(self.latencies)
        assert row.response_id is not None
        self.follow_ups.waiting(row.row_key, row.response_id)  # an agent's poll may send a follow-up
        try:
            return await self._poll_until_done(row, scout)
        finally:
            self.follow_ups.done(row.row_key)
            self.context.pace.discharge(scout)
            self.latencies.scouting.left(row.row_key)  # a scout that ended without a latency

    async def _poll_until_done(self, row: RowState, scout: bool) -> Snapshot | None:
        key, response_id = row.row_key, row.response_id
        assert response_id is not None
        submitted = row.submitted_at or now()
        pace, model = self.context.pace, self.latencies
        teaches = scout and submitted >= self.since  # what the scouts see is the run's first estimate
        polls = looks = 0  # looks: the blind schedule's steps, taken with or without a poll
        running_at = 0.0  # seconds after submit when it was last seen still running
        made = submitted  # when the response waited on was created: a follow-up's queued deadline is its own
        while True:
            elapsed = (now() - submitted).total_seconds()
            blind = model.quantile(0.5) is None
            slack = pace.slack(model, slots_bind=self.context.budget.slots_bind)
            delay = next_poll_delay(elapsed, looks if blind else polls, model, slack, pace.closing)
            await self.context.sleep(delay)
            looks += 1
            if blind and not pace.may_poll_blind(scout, seconds_since(submitted)):
                continue  # what the scouts learn tells this row when to look (see `pace.SCOUTS`)
            polls += 1
            try:
                snapshot = await self._look(response_id)
            except ResponseGoneError as exc:
                gone(self.context, key, exc)
                return None
            except (RequestRejectedError, RowEnded) as exc:
                self.follow_ups.refused(key, exc)
                return None
            except RateLimitedError as exc:
                self.follow_ups.not_sent(key)
                self.context.throttled(exc, poll=True)
                continue
            except MaybeSentError as exc:
                if self.follow_ups.lost(key, str(exc)):
                    return None
                continue
            except TransientError as exc:
                self.follow_ups.not_sent(key)
                self.context.retried(exc)
                continue
            if snapshot.response_id not in (None, response_id):
                await self._move_on(key, snapshot, None)
                response_id, made = snapshot.response_id, now()
            seen_at = (now() - submitted).total_seconds()
            if snapshot.terminal:
                # It finished between the last look that found it running and this one, not when we
                # noticed: learning our own lag would push every later first poll later still.
                took = completion_estimate(running_at, seen_at, snapshot.server_seconds)
                self.finished_after[key] = took
                if teaches and snapshot.status == "completed":
                    model.scouting.ended(key, took)
                return snapshot
            running_at = seen_at
            if teaches:
                model.scouting.running(key, seen_at)
            if await cancel_if_stuck(self.context, self.backend, key, snapshot, seconds_since(made)):
                return None
            self._note_progress(key, snapshot)

    async def _look(self, response_id: str) -> Snapshot:
        """One poll, under the poll budget, with at most `POLLING` on their way at once."""
        async with self._polling:
            await self.context.budget.acquire_poll()
            self.context.counters.polls += 1
            snapshot = await self.backend.retrieve(response_id)
            self.context.silence.answers += 1
            return snapshot

    async def _follow(self, row: RowState, live: Live | None) -> Followed:
        """Stream to the end; `POLL` past the stream window. Stream mode resumes from the saved cursor
        after drops; poll mode polls instead (`_follow_scouting`)."""
        key, response_id = row.row_key, row.response_id
        assert response_id is not None
        self.follow_ups.waiting(key, response_id)
        try:
            return await self._follow_from(row, response_id, live)
        finally:
            self.follow_ups.done(key)

    async def _follow_from(self, row: RowState, response_id: str, live: Live | None) -> Followed:
        key = row.row_key
        cursor = row.sequence_number if row.sequence_number is not None else -1
        drops, last_cursor, stream = 0, cursor, live
        # The queued deadline runs from when the response the row waits on was made: a tool round's
        # follow-up is new, and may itself be stuck in the queue however long the row has run.
        queued, made = row.status == "queued", row.submitted_at
        unnoted: Snapshot | None = None  # the latest response seen, not yet in the row
        while True:
            if stream is None:
                if not self.context.streaming:
                    return POLL
                await self.context.budget.acquire_poll()
                self.context.counters.resumes += 1
                stream = self.backend.resume(response_id, cursor)
            try:
                async with contextlib.aclosing(stream):
                    while (update := await self._next_event(stream, queued, made)) is not None:
                        cursor, snapshot = update.sequence_number, update.snapshot
                        self.context.silence.answers += 1
                        if snapshot is not None:
                            queued = snapshot.status == "queued"
                            if snapshot.response_id and snapshot.response_id != response_id:
                                # a new response's events number from 0
                                await self._move_on(key, snapshot, cursor)
                                response_id, last_cursor, unnoted, made = (
                                    snapshot.response_id,
                                    -1,
                                    None,
                                    now(),
                                )
                                if not snapshot.terminal:
                                    self._note_progress(key, snapshot)
                            else:
                                unnoted = snapshot
                            if snapshot.terminal:
                                self.last_events[key] = cursor  # recorded with what the row becomes
                                return snapshot
                        # The cursor reaches the table with the latest event that carried the response
                        # when the stream has nothing more read: not at every text delta (a table write
                        # per delta cost a streamed row as much CPU as its transport), nor at events
                        # the next one, already here, supersedes (a fast server's whole stream comes in
                        # one read). After a crash the stream resumes from the last one recorded and
                        # replays a few events, which the terminal event supersedes.
                        if unnoted is not None and not update.more:
                            self._note_progress(key, unnoted, cursor)
                            unnoted = None
                # Ended without a terminal event (cancelled elsewhere, a server that closes early, or
                # a response still queued at its deadline): ask for the truth.
                snapshot = await self.backend.retrieve(response_id)
                self.context.silence.answers += 1
                if snapshot.terminal:
                    return snapshot
                if snapshot.response_id not in (None, response_id):
                    await self._move_on(key, snapshot, None)
                    response_id, cursor, made = snapshot.response_id, -1, now()  # stream the new one
                    queued = snapshot.status == "queued"
                elif await cancel_if_stuck(self.context, self.backend, key, snapshot, seconds_since(made)):
                    return None
            except (StreamUnavailableError, StreamErrorEvent):
                return POLL
            except MaybeSentError as exc:
                if self.follow_ups.lost(key, str(exc)):
                    return None
            except ResponseGoneError as exc:
                gone(self.context, key, exc)
                return None
            except (RequestRejectedError, RowEnded) as exc:
                self.follow_ups.refused(key, exc)
                return None
            except RateLimitedError as exc:
                self.follow_ups.not_sent(key)
                self.context.throttled(exc, poll=True)
            except TransientError as exc:
                self.follow_ups.not_sent(key)
                self.context.retried(exc)
                # A drop after progress resumes at once; drops with nothing new back off.
                drops = 0 if cursor > last_cursor else drops + 1
                await self.context.sleep(backoff(drops) if drops else 0.0)
            last_cursor, stream = cursor, None

    async def _next_event(self, stream: Live, queued: bool, made: datetime | None) -> StreamUpdate | None:
        """The next event, or None when the stream ends or a still-`queued` response reaches its queued
        deadline (`made`: when it was created): a stuck stream sends only keep-alives, so waiting on it
        would never end. Once the response runs, no deadline: a long answer is hundreds of text deltas,
        and reading the clock and the row per event was a third of a streamed row's CPU."""
        try:
            if not queued:
                return await anext(stream)
            deadline = self.context.policy.queued_timeout - seconds_since(made)
            async with asyncio.timeout(max(0.0, deadline)):
                return await anext(stream)
        except (StopAsyncIteration, TimeoutError):
            return None

    async def _move_on(self, key: str, snapshot: Snapshot, cursor: int | None) -> None:
        """Wait on the row's new response (`snapshot`'s) from now on, durably at once: after a crash the
        next run must continue from it, not make the round (and pay for it) again. The response it
        answers, paid for, is counted in the same write (`record.moved_on`), and against the cap now."""
        response_id = snapshot.response_id
        assert response_id is not None
        self.follow_ups.answered(key)
        self.follow_ups.waiting(key, response_id)
        row, answered = self.context.table.get(key), snapshot.answers
        if answered is not None and answered.response_id != row.response_id:
            answered = None  # not the response the row leaves: counted when the row left it, if ever
        cost = None if answered is None else self.context.spend.paid_round(key, answered)
        self.context.apply(key, record.moved_on(row, response_id, cursor, answered, cost))
        await self.context.table.commit(urgent=True)

    def _note_progress(self, key: str, snapshot: Snapshot, cursor: int | None = None) -> None:
        """Record that the response runs, and the stream's cursor if given, as one change. Only forward: a
        row in progress whose work moved on to a new, still queued, response (a tool round) stays in
        progress."""
        table = self.context.table
        status = table.get(key).status
        moved_on = snapshot.status == "in_progress" and status == "queued"
        if moved_on or cursor is not None:
            fields = {} if cursor is None else {"sequence_number": cursor}
            table.transition(key, "in_progress" if moved_on else status, **fields)
