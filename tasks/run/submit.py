"""Sending one row: under the rate budget, `submitting` made durable before the create leaves, the token
durable before anything waits on it.

A create's outcome decides what the row spends:
- the server answered: one attempt, the row holds its token (or, from a foreground backend, its end);
- refused before anything started (429, a transient error that reached no job): nothing spent, sent again;
- refused as invalid (400/422): failed `rejected`, never sent again automatically;
- no answer that names the job (timeout, cut connection, a gateway's 5xx, a stream that ends or breaks
  before any event names the response): maybe created, so one attempt and one orphan are counted, with
  the reason, and the row is sent again only within its attempts (`plan.wants_submit`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Literal

from rowrelay.tasks.errors import RateLimitedError, TransientError
from rowrelay.tasks.llm import (
    BackendRefusedError,
    MaybeSentError,
    RequestRejectedError,
    RowRequest,
    Snapshot,
    StreamUpdate,
    estimate_tokens,
)
from rowrelay.tasks.run import record
from rowrelay.tasks.run.context import RowContext, now
from rowrelay.tasks.state import RowState

Live = AsyncGenerator[StreamUpdate, None]
"""A stream opened by the create itself, handed on to the wait so no event is missed."""
Submitted = Snapshot | Live | Literal["retry", "throttled"] | None
"""A terminal snapshot to record, a live stream to follow, a reason to go round again, or None when the
row's state already says what happened (held its token to wait on, or failed)."""


@dataclass
class Submitter:
    context: RowContext

    async def submit(self, row: RowState) -> Submitted:
        context, key = self.context, row.row_key
        request = self._request(key)
        instructions = estimate_tokens(context.policy.instructions or "")
        await context.budget.acquire_create(
            context.budget.estimate(estimate_tokens(request.prompt) + instructions)
        )
        context.table.transition(key, "submitting")
        try:
            await context.table.commit()  # write-ahead: durable `submitting` before the create leaves
        except asyncio.CancelledError:
            context.table.transition(key, "pending")  # the run stopped first: the create never left
            raise
        context.counters.creates += 1
        try:
            snapshot, stream, cursor = await self._create(request)
        except asyncio.CancelledError:
            # The run stopped (a refused key, Ctrl-C) with this create on the wire: it may have started.
            self._maybe_created(row, "the run stopped while this create was in flight")
            raise
        except RateLimitedError as exc:
            context.throttled(exc, poll=False)
            context.table.transition(key, "pending")  # refused before anything started
            return "throttled"
        except RequestRejectedError as exc:
            failure = record.failed(
                "rejected", None, str(exc), row.attempts, now(), max_attempts=context.policy.max_attempts
            )
            context.apply(key, failure)
            return None
        except BackendRefusedError:
            context.table.transition(key, "pending")  # nothing started; the run stops
            raise
        except MaybeSentError as exc:
            self._maybe_created(row, str(exc))
            return None
        except TransientError as exc:
            context.counters.transient_errors += 1
            context.table.transition(key, "pending", error_type="transient", error_message=str(exc))
            return "retry"
        context.apply(key, record.accepted(snapshot, row, now(), cursor=cursor, model=context.policy.model))
        if snapshot.terminal:
            return snapshot
        # The token is durable before anything waits on it, and at once: until then a crash would leave
        # a paid job no run can find (followers still share this write).
        await context.table.commit(urgent=True)
        return stream

    def _maybe_created(self, row: RowState, reason: str) -> None:
        context, policy = self.context, self.context.policy
        context.counters.maybe_created += 1
        change = record.maybe_created(
            row, reason, max_attempts=policy.max_attempts, policy=policy.orphan_policy
        )
        context.apply(row.row_key, change)

    def _request(self, key: str) -> RowRequest:
        policy = self.context.policy
        return RowRequest(
            row_key=key,
            prompt=self.context.prompts(key),
            instructions=policy.instructions,
            model=policy.model,
            metadata={"rowrelay_batch": policy.batch_id, "rowrelay_row": key[:512]},
            max_output_tokens=policy.max_output_tokens,
        )

    async def _create(self, request: RowRequest) -> tuple[Snapshot, Live | None, int | None]:
        """The create's first answer, the live stream when streaming, and that stream's cursor."""
        background = self.context.background
        if background is None or not self.context.streaming:
            return await self.context.backend.create(request), None, None
        stream = background.create_stream(request)
        try:
            # The id comes with the first lifecycle event, normally `response.created`; a server that
            # starts elsewhere (`response.queued`, a delta) still has the job, so read on to the first
            # event that names it rather than dropping a stream whose job is already paid for.
            async for update in stream:
                if update.snapshot is not None:
                    return update.snapshot, stream, update.sequence_number
        except BaseException:
            await stream.aclose()
            raise
        raise MaybeSentError("the create's stream ended before any event named the response")
