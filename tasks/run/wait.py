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
    BackendRefusedError,
    BackgroundBackend,
    MaybeSentError,
    RequestRejectedError,
    Snapshot,
    StreamErrorEvent,
    StreamUnavailableError,
    StreamUpdate,
)
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run import record
from rowrelay.tasks.run.context import RowContext, backoff, now, seconds_since
from rowrelay.tasks.run.creating import Live
from rowrelay.tasks.run.schedule import LatencyModel, completion_estimate, next_poll_delay
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
        try:
            return await self._poll_until_done(row, scout)
        finally:
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
                self._gone(key, exc)
                return None
            except RateLimitedError as exc:
                self.context.throttled(exc, poll=True)
                continue
            except MaybeSentError as exc:
                if self._follow_up_lost(key, str(exc)):
                    return None
                continue
            except TransientError as exc:
                self.context.retried(exc)
                continue
            if snapshot.response_id not in (None, response_id):
                response_id = snapshot.response_id
                await self._move_on(key, response_id, None)
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
            if await self._stuck(key, snapshot, elapsed):
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
        cursor = row.sequence_number if row.sequence_number is not None else -1
        drops, last_cursor, stream = 0, cursor, live
        queued = row.status == "queued"
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
                    while (update := await self._next_event(key, stream, queued)) is not None:
                        cursor, snapshot = update.sequence_number, update.snapshot
                        self.context.silence.answers += 1
                        if snapshot is not None:
                            # as the row's status: forward only (`_note_progress`)
                            queued = queued and snapshot.status == "queued"
                            if snapshot.response_id and snapshot.response_id != response_id:
                                response_id = snapshot.response_id  # a new response's events number from 0
                                last_cursor, unnoted = -1, None
                                await self._move_on(key, response_id, cursor)
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
                    response_id, cursor = snapshot.response_id, -1  # stream the new one from its start
                    await self._move_on(key, response_id, None)
                elif await self._stuck(
                    key, snapshot, seconds_since(self.context.table.get(key).submitted_at)
                ):
                    return None
            except (StreamUnavailableError, StreamErrorEvent):
                return POLL
            except MaybeSentError as exc:
                if self._follow_up_lost(key, str(exc)):
                    return None
            except ResponseGoneError as exc:
                self._gone(key, exc)
                return None
            except RateLimitedError as exc:
                self.context.throttled(exc, poll=True)
            except TransientError as exc:
                self.context.retried(exc)
                # A drop after progress resumes at once; drops with nothing new back off.
                drops = 0 if cursor > last_cursor else drops + 1
                await self.context.sleep(backoff(drops) if drops else 0.0)
            last_cursor, stream = cursor, None

    async def _next_event(self, key: str, stream: Live, queued: bool) -> StreamUpdate | None:
        """The next event, or None when the stream ends or a still-`queued` response reaches its queued
        deadline: a stuck stream sends only keep-alives, so waiting on it would never end. Once the
        response runs, no deadline and no read of the row: a long answer is hundreds of text deltas,
        and that per event was a third of a streamed row's CPU."""
        try:
            if not queued:
                return await anext(stream)
            deadline = self.context.policy.queued_timeout - seconds_since(
                self.context.table.get(key).submitted_at
            )
            async with asyncio.timeout(max(0.0, deadline)):
                return await anext(stream)
        except (StopAsyncIteration, TimeoutError):
            return None

    async def _move_on(self, key: str, response_id: str, cursor: int | None) -> None:
        """Wait on the row's new response from now on, durably at once: after a crash the next run must
        continue from it, not make the round (and pay for it) again."""
        self.context.apply(key, record.moved_on(self.context.table.get(key), response_id, cursor))
        await self.context.table.commit(urgent=True)

    def _gone(self, key: str, exc: ResponseGoneError) -> None:
        """The server no longer holds the row's response: expired, sent again by policy. Unless it is too
        young for any server to have let it go (`record.unfound`): then the server does not find what it
        makes, and every row would be created, and paid for, again. The run stops instead, as for a
        refused key: rows keep their response ids. (Not on an emulator: what it loses costs nothing, and a
        restarted embedded emulator has lost every response it held.)"""
        said = (
            None
            if self.context.policy.emulated
            else record.unfound(self.context.table.get(key), str(exc), now())
        )
        if said is not None:
            raise BackendRefusedError(said)
        self.context.apply(key, record.expired(str(exc)))

    def _follow_up_lost(self, key: str, message: str) -> bool:
        """Count a create made while waiting that got no answer; True when the row has now ended."""
        self.context.lost_answer(message)
        row = self.context.table.get(key)
        change = record.follow_up_maybe_created(
            row, message, now(), max_attempts=self.context.policy.max_attempts
        )
        self.context.apply(key, change)
        return change.status not in HOLDING_TOKEN

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

    async def _stuck(self, key: str, snapshot: Snapshot, elapsed: float) -> bool:
        """A response queued far too long is cancelled and the row failed for retry: a server that never
        starts a job would otherwise hold the row (and its in-flight slot) for ever. A cancel that does not
        take (some servers cannot cancel) leaves a job that may yet run, which the row sent again counts
        (`record.stuck`). False if the cancel finds the response ended meanwhile: the next look has it."""
        policy = self.context.policy
        if snapshot.status != "queued" or elapsed < policy.queued_timeout:
            return False
        assert snapshot.response_id is not None
        try:
            cancelled = await self.backend.cancel(snapshot.response_id)
        except (TransientError, ResponseGoneError, RequestRejectedError) as exc:
            not_cancelled: str | None = str(exc)
        else:
            if cancelled.terminal and cancelled.status != "cancelled":
                return False
            not_cancelled = None if cancelled.terminal else f"the response is still {cancelled.status}"
        row = self.context.table.get(key)
        self.context.apply(
            key, record.stuck(row, elapsed, not_cancelled, now(), max_attempts=policy.max_attempts)
        )
        return True
