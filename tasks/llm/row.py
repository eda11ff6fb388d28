"""One row's life: submit under the budget, checkpoint its token, wait (poll or stream), record the end.

A row's failure is data: whatever happens to one row is written into its state and never raised into
the batch, except for errors that concern the whole run (bad credentials), which `BackendRefusedError`
carries up. Each kind of retry has one owner: the SDK retries transport errors on reads, and this
module re-submits rows by the attempt policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from rowrelay.tasks.errors import RateLimitedError, ResponseGoneError, TransientError
from rowrelay.tasks.llm.budget import RateBudget, estimate_tokens
from rowrelay.tasks.llm.calls import (
    Backend,
    BackendRefusedError,
    MaybeSentError,
    RequestRejectedError,
    RowRequest,
    Snapshot,
    StreamErrorEvent,
    StreamUnavailableError,
    StreamUpdate,
)
from rowrelay.tasks.llm.schedule import LatencyModel, next_poll_delay
from rowrelay.tasks.records import IN_FLIGHT, RowStatus, WaitMode
from rowrelay.tasks.state import RowState, StateTable

Sleep = Callable[[float], Awaitable[None]]
Policy = Literal["resubmit", "hold"]
REJECTED = "rejected"  # error_type of rows the server refused as invalid: never re-sent automatically
_MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class RowPolicy:
    """How rows are sent and retried; the same for every row of a run."""

    batch_id: str
    model: str
    instructions: str | None = None
    mode: WaitMode = "poll"
    max_attempts: int = 3
    max_output_tokens: int | None = None
    queued_timeout: float = 900.0
    orphan_policy: Policy = "resubmit"
    expired_policy: Policy = "resubmit"


@dataclass
class RunCounters:
    """What a run did, for progress lines, artifacts and benchmarks."""

    creates: int = 0
    polls: int = 0
    resumes: int = 0
    rate_limited: int = 0
    transient_errors: int = 0
    maybe_created: int = 0


@dataclass
class RowDriver:
    """Drives rows of one table through one backend. One instance per run, shared by row tasks."""

    table: StateTable
    backend: Backend
    budget: RateBudget
    policy: RowPolicy
    prompts: Callable[[str], str]
    sleep: Sleep = asyncio.sleep
    latencies: LatencyModel = field(default_factory=LatencyModel)
    counters: RunCounters = field(default_factory=RunCounters)
    finished_after: dict[str, float] = field(default_factory=dict)
    """Polled rows: the estimated seconds from submit to the server finishing, for the schedule."""

    def wants_submit(self, row: RowState) -> bool:
        """Whether a run should (re)send this row now."""
        status: RowStatus = row.status
        if status == "pending":
            return True
        if status == "orphaned":
            return self.policy.orphan_policy == "resubmit" and row.attempts < self.policy.max_attempts
        if status == "expired":
            return self.policy.expired_policy == "resubmit" and row.attempts < self.policy.max_attempts
        if status == "failed":
            return row.error_type != REJECTED and row.attempts < self.policy.max_attempts
        return False

    async def drive(self, key: str) -> None:
        """Take one row as far as it can go in this run."""
        live: AsyncGenerator[StreamUpdate, None] | None = None
        transient = 0
        while True:
            row = self.table.get(key)
            if row.status in IN_FLIGHT and row.response_id is not None:
                snapshot = await self._wait(row, live)
                live = None
                if snapshot is not None:
                    self._record(key, snapshot)
            elif self.wants_submit(row):
                outcome = await self._submit(row)
                if isinstance(outcome, Snapshot):
                    self._record(key, outcome)
                elif outcome == "retry":
                    transient += 1
                    await self.sleep(_backoff(transient))
                elif outcome != "throttled":
                    live = outcome
            else:
                return

    # --- submit ------------------------------------------------------------------------------

    async def _submit(
        self, row: RowState
    ) -> Snapshot | AsyncGenerator[StreamUpdate, None] | Literal["retry", "throttled"] | None:
        key = row.row_key
        prompt = self.prompts(key)
        request = RowRequest(
            row_key=key,
            prompt=prompt,
            instructions=self.policy.instructions,
            model=self.policy.model,
            metadata={"rowrelay_batch": self.policy.batch_id, "rowrelay_row": key[:512]},
            max_output_tokens=self.policy.max_output_tokens,
        )
        tokens = self.budget.estimate(
            estimate_tokens(prompt) + estimate_tokens(self.policy.instructions or "")
        )
        await self.budget.acquire_create(tokens)
        self.table.transition(key, "submitting")
        await self.table.commit()  # write-ahead: durable `submitting` before the create leaves
        self.counters.creates += 1
        streaming = self.policy.mode == "stream" and self.backend.background
        try:
            if streaming:
                stream = self.backend.create_stream(request)
                first = await anext(stream)
                snapshot = first.snapshot
                if snapshot is None:
                    raise TransientError("the stream did not start with response.created")
            else:
                stream, snapshot = None, await self.backend.create(request)
        except RateLimitedError as exc:
            self._throttled(exc, poll=False)
            self.table.transition(key, "pending")  # refused before anything started
            return "throttled"
        except RequestRejectedError as exc:
            self._fail(key, REJECTED, None, str(exc), attempts=row.attempts)
            return None
        except BackendRefusedError:
            self.table.transition(key, "pending")  # nothing started; the run stops
            raise
        except MaybeSentError as exc:
            self._maybe_created(key, row, exc)
            return None
        except TransientError as exc:
            self.counters.transient_errors += 1
            self.table.transition(key, "pending", error_type="transient", error_message=str(exc))
            return "retry"
        now = _now()
        self.table.transition(
            key,
            snapshot.status,
            response_id=snapshot.response_id,
            attempts=row.attempts + 1,
            submitted_at=now,
            sequence_number=first.sequence_number if streaming else None,
            model=snapshot.model or self.policy.model,
        )
        if snapshot.terminal:
            return snapshot
        await self.table.commit()  # the token is durable before anything waits on it
        return stream

    def _maybe_created(self, key: str, row: RowState, exc: Exception) -> None:
        """A create that got no answer may have started a paid job; count it, say why, move on."""
        self.counters.maybe_created += 1
        self.table.transition(
            key,
            "orphaned",
            attempts=row.attempts + 1,
            orphans=row.orphans + 1,
            error_type="maybe_created",
            error_message=str(exc),
            note="create got no answer: it may have started a job that rowrelay cannot see",
        )

    # --- wait --------------------------------------------------------------------------------

    async def _wait(self, row: RowState, live: AsyncGenerator[StreamUpdate, None] | None) -> Snapshot | None:
        if self.policy.mode == "stream" and self.backend.background:
            return await self._follow(row, live)
        return await self._poll(row)

    async def _poll(self, row: RowState) -> Snapshot | None:
        key, response_id = row.row_key, row.response_id
        assert response_id is not None
        submitted = row.submitted_at or _now()
        polls = 0
        running_at = 0.0  # seconds after submit when it was last seen still running
        while True:
            elapsed = (_now() - submitted).total_seconds()
            await self.sleep(next_poll_delay(elapsed, polls, self.latencies))
            await self.budget.acquire_poll()
            polls += 1
            self.counters.polls += 1
            try:
                snapshot = await self.backend.retrieve(response_id)
            except ResponseGoneError as exc:
                self._expire(key, exc)
                return None
            except RateLimitedError as exc:
                self._throttled(exc, poll=True)
                continue
            except TransientError:
                self.counters.transient_errors += 1
                continue
            seen_at = (_now() - submitted).total_seconds()
            if snapshot.terminal:
                # It finished between the last look that found it running and this one. Learn that
                # midpoint, not the moment we noticed: learning our own lag would push every later
                # first poll later still.
                self.finished_after[key] = (running_at + seen_at) / 2
                return snapshot
            running_at = seen_at
            if await self._stuck(key, snapshot, elapsed):
                return None
            self._note_progress(key, snapshot)

    async def _follow(
        self, row: RowState, live: AsyncGenerator[StreamUpdate, None] | None
    ) -> Snapshot | None:
        """Stream to the end, resuming from the saved cursor after drops; poll past the window."""
        key, response_id = row.row_key, row.response_id
        assert response_id is not None
        cursor = row.sequence_number if row.sequence_number is not None else -1
        drops = 0
        last_cursor = cursor
        stream = live
        while True:
            if stream is None:
                await self.budget.acquire_poll()
                self.counters.resumes += 1
                stream = self.backend.resume(response_id, cursor)
            try:
                async with contextlib.aclosing(stream):
                    while (update := await self._next_event(key, stream)) is not None:
                        cursor = update.sequence_number
                        self.table.update(key, sequence_number=cursor)
                        if update.snapshot is not None:
                            if update.snapshot.terminal:
                                return update.snapshot
                            self._note_progress(key, update.snapshot)
                # Ended without a terminal event (cancelled elsewhere, a server that closes early, or
                # a response still queued at its deadline): ask for the truth.
                snapshot = await self.backend.retrieve(response_id)
                if snapshot.terminal:
                    return snapshot
                if await self._stuck(key, snapshot, _seconds_since(self.table.get(key).submitted_at)):
                    return None
            except (StreamUnavailableError, StreamErrorEvent):
                return await self._poll(self.table.get(key))
            except ResponseGoneError as exc:
                self._expire(key, exc)
                return None
            except RateLimitedError as exc:
                self._throttled(exc, poll=True)
            except TransientError:
                self.counters.transient_errors += 1
                # A drop after progress resumes at once; drops with nothing new back off.
                drops = 0 if cursor > last_cursor else drops + 1
                await self.sleep(_backoff(drops) if drops else 0.0)
            last_cursor = cursor
            stream = None

    async def _next_event(self, key: str, stream: AsyncGenerator[StreamUpdate, None]) -> StreamUpdate | None:
        """The next event, or None when the stream ends or a still-queued response reaches its
        queued deadline: a stuck stream sends only keep-alives, so waiting on it would never end."""
        row = self.table.get(key)
        limit = None
        if row.status == "queued":
            limit = max(0.0, self.policy.queued_timeout - _seconds_since(row.submitted_at))
        try:
            async with asyncio.timeout(limit):
                return await anext(stream)
        except (StopAsyncIteration, TimeoutError):
            return None

    def _throttled(self, exc: RateLimitedError, *, poll: bool) -> None:
        """A 429 pauses the kind of call that earned it; the row just waits and tries again."""
        self.counters.rate_limited += 1
        self.budget.on_rate_limited(exc.retry_after, poll=poll)

    def _note_progress(self, key: str, snapshot: Snapshot) -> None:
        if snapshot.status != self.table.get(key).status and snapshot.status in IN_FLIGHT:
            self.table.transition(key, snapshot.status)

    async def _stuck(self, key: str, snapshot: Snapshot, elapsed: float) -> bool:
        """A response queued far too long (PROTOCOL P5) is cancelled and the row failed for retry."""
        if snapshot.status != "queued" or elapsed < self.policy.queued_timeout:
            return False
        assert snapshot.response_id is not None
        with contextlib.suppress(TransientError, ResponseGoneError):  # best effort: retried either way
            await self.backend.cancel(snapshot.response_id)
        row = self.table.get(key)
        message = f"still queued after {elapsed:.0f}s; cancelled"
        self._fail(key, "queued_timeout", None, message, attempts=row.attempts)
        return True

    # --- record ------------------------------------------------------------------------------

    def _record(self, key: str, snapshot: Snapshot) -> None:
        row = self.table.get(key)
        now = _now()
        usage = {
            "input_tokens": snapshot.input_tokens,
            "output_tokens": snapshot.output_tokens,
            "reasoning_tokens": snapshot.reasoning_tokens,
        }
        if snapshot.status == "completed":
            latency = self.finished_after.pop(key, None)
            if latency is None and row.submitted_at is not None:
                latency = (now - row.submitted_at).total_seconds()  # seen live (stream) or at once
            if latency is not None:
                self.latencies.observe(latency)
            if snapshot.output_tokens is not None:
                self.budget.output.observe(snapshot.output_tokens)
            self.table.transition(
                key,
                "completed",
                output_text=snapshot.output_text,
                completed_at=now,
                error_type=None,
                error_code=None,
                error_message=None,
                note=None,
                **usage,
            )
        elif snapshot.status == "failed":
            self._fail(
                key, "response_failed", snapshot.error_code, snapshot.error_message, attempts=row.attempts
            )
        else:  # incomplete or cancelled: kept as they are; `rowrelay retry` makes them eligible again
            self.table.transition(
                key,
                snapshot.status,
                output_text=snapshot.output_text,
                completed_at=now,
                error_type=snapshot.status,
                error_code=snapshot.error_code,
                error_message=snapshot.error_message or snapshot.status,
                **usage,
            )

    def _fail(self, key: str, kind: str, code: str | None, message: str | None, *, attempts: int) -> None:
        exhausted = kind != REJECTED and attempts >= self.policy.max_attempts
        note = f"gave up after {attempts} attempts" if exhausted else None
        self.table.transition(
            key,
            "failed",
            error_type=kind,
            error_code=code,
            error_message=message or kind,
            completed_at=_now(),
            note=note,
        )

    def _expire(self, key: str, exc: Exception) -> None:
        self.table.transition(
            key,
            "expired",
            error_type="expired",
            error_message=str(exc),
            note="the server no longer holds this response",
        )


def _backoff(failures: int) -> float:
    delay: float = min(_MAX_BACKOFF, 0.5 * 2.0 ** (failures - 1))
    return delay * random.uniform(0.75, 1.0)


def _seconds_since(moment: datetime | None) -> float:
    return 0.0 if moment is None else (_now() - moment).total_seconds()


def _now() -> datetime:
    return datetime.now(UTC)
