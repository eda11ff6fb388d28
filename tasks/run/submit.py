"""Sending one row: under the cost cap and the rate budget, `submitting` made durable before the create
leaves, the token durable before anything waits on it.

A create's outcome decides what the row spends: the server answered, one attempt, and the row holds its
token (or, from a foreground backend, its end); a create the server did not answer with a job is recorded
by `run.refused_creates` (maybe created, refused before anything started, refused as invalid). The row's
request is built at its send (`run.row_request`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Literal

from rowrelay.tasks.errors import TransientError
from rowrelay.tasks.llm import (
    BackendRefusedError,
    NotTheApiError,
    RequestRejectedError,
    RowRequest,
    Snapshot,
)
from rowrelay.tasks.run import creating, record
from rowrelay.tasks.run.answers_awaited import AnswersAwaited, answers_awaited
from rowrelay.tasks.run.context import RowContext, now
from rowrelay.tasks.run.creating import Created, Live
from rowrelay.tasks.run.first_creates import FirstCreates
from rowrelay.tasks.run.glitches import Glitches
from rowrelay.tasks.run.inline_bytes import InlineBytes, inlined_all, local_bytes
from rowrelay.tasks.run.no_background import NoBackground
from rowrelay.tasks.run.outage import Turn
from rowrelay.tasks.run.refused_alike import RefusedAlike
from rowrelay.tasks.run.refused_creates import RefusedCreates
from rowrelay.tasks.run.row_request import prompt_tokens, row_request
from rowrelay.tasks.state import RowState

Submitted = Snapshot | Live | Literal["retry", "throttled", "wait", "capped"] | None
"""A terminal snapshot to record, a live stream to follow, a reason to go round again, the cost cap's
word when it holds the row back (`wait` for rows in flight to end, or `capped`: not this run; nothing was
sent), or None when the row's state already says what happened (held its token to wait on, or failed)."""


STOP_GRACE = 5.0
"""Seconds a stopping run waits for creates already on the wire to answer (`Submitter._stopping`); but a
Ctrl-C waits for a Chat Completions create to its end (`run.answers_awaited`)."""
SENDING = 256
"""Rows between the create budget and the create's answer at once. The budget lets a minute's creates
through in one burst (a full bucket), and with many thousands in flight that burst, all queued on the
HTTP pool, would wait there past the request timeout and count creates that never left as maybe
created. A few hundred keep the pool busy (a background create answers in milliseconds) and the rest
wait, still `pending`, here."""


@dataclass
class Submitter:
    context: RowContext
    _sending: asyncio.Semaphore = field(init=False, default_factory=lambda: asyncio.Semaphore(SENDING))
    _no_background: NoBackground = field(init=False, default_factory=NoBackground)
    _inline: InlineBytes = field(init=False, default_factory=InlineBytes)
    _alike: RefusedAlike = field(init=False, default_factory=RefusedAlike)
    _first: FirstCreates = field(init=False)
    _glitches: Glitches = field(init=False, default_factory=Glitches)
    _refusals: RefusedCreates = field(init=False)

    def __post_init__(self) -> None:
        # A foreground create's answer is the whole response: its batch is not held back for it.
        self._first = FirstCreates(proven=self.context.background is None)
        self._refusals = RefusedCreates(self.context, self._alike)  # what a create not taken spends

    async def submit(self, row: RowState) -> Submitted:
        async with self._sending:
            return await self._send(row)

    def hold(self, key: str) -> None:
        """Count under the cost cap a row an earlier run created, which this run waits on (`Spend.hold`)."""
        context = self.context
        context.spend.hold(
            key, prompt_tokens(context, row_request(context, key)), context.budget.output.value()
        )

    async def _send(self, row: RowState) -> Submitted:
        context, key = self.context, row.row_key
        request = row_request(context, key)
        tokens = prompt_tokens(context, request)
        output = context.budget.output
        admission = context.spend.admit(key, tokens, output.value(), guesses_left=output.guesses_left)
        if admission != "go":
            return admission  # the cost cap (run.spend): decided in memory, before the rate budget
        context.pace.rate_waits += 1
        try:
            await context.budget.acquire_create(tokens)
        finally:
            context.pace.rate_waits -= 1
        if not any(item.held_locally for item in request.attachments):
            return await self._dispatch(row, request)
        # Read once the row may go, so rows waiting on the budget hold no file in memory, and no more at
        # once than `InlineBytes` allows.
        try:
            held = await self._inline.acquire(await asyncio.to_thread(local_bytes, request.attachments))
        except OSError as exc:
            return self._unreadable(row, exc)
        try:
            try:
                request = replace(
                    request, attachments=await asyncio.to_thread(inlined_all, request.attachments)
                )
            except OSError as exc:
                return self._unreadable(row, exc)
            return await self._dispatch(row, request)
        finally:
            self._inline.release(held)

    def _unreadable(self, row: RowState, exc: OSError) -> Submitted:
        """A local image or file planned readable and gone since: the row cannot be sent as asked."""
        context, key = self.context, row.row_key
        why = f"an attachment cannot be read ({exc.strerror or exc}: {exc.filename})"
        failure = record.failed(
            "bad_input", None, why, row.attempts, now(), max_attempts=context.policy.max_attempts
        )
        context.apply(key, failure)
        context.spend.release(key)
        return None  # the row's state says what happened

    async def _dispatch(self, row: RowState, request: RowRequest) -> Submitted:
        """The create in its turn: at once, or while creates' answers are lost, one at a time after a
        pause (`outage.CreateHold`); until one create's answer is recorded, a few at a time
        (`first_creates`)."""
        probing = await self._first.enter()  # the run's first creates, a few at a time
        try:
            async with self.context.hold.turn() as turn:
                return await self._create_now(row, request, turn)
        finally:
            self._first.leave(probing)

    async def _create_now(self, row: RowState, request: RowRequest, turn: Turn) -> Submitted:
        """The create, `submitting` made durable before it leaves and the token after it answers."""
        context, key = self.context, row.row_key
        # The endpoint goes with `submitting`: a token the create returns is only ever waited on there.
        context.table.transition(key, "submitting", endpoint=context.endpoint)
        try:
            # Write-ahead: `submitting` is durable before the create leaves. The commit interval paces a
            # stream of writes; the batch's first creates have none to join, and waiting out an interval
            # begun by the plan's own write held every run 0.1-0.2 s before its first create.
            await context.table.commit(urgent=context.counters.creates == 0)
        except asyncio.CancelledError:
            context.table.transition(key, "pending")  # the run stopped first: the create never left
            raise
        context.counters.creates += 1
        context.pace.last_create = time.monotonic()
        # The create runs as its own task so that a stop does not cut it off mid-wire (see `_stopping`).
        create = asyncio.ensure_future(creating.create(self.context, request))
        waits = answers_awaited.get() if context.background is None else None  # a chat create's stop
        if waits is not None:
            waits.sent(key)
        try:
            await asyncio.wait([create])  # waits without cancelling `create` when the run stops
        except asyncio.CancelledError:
            await self._stopping(row, create, waits)
            raise
        finally:
            if waits is not None:
                waits.back(key, answered=key not in context.cut_on_stop)  # cut: by a second Ctrl-C
        try:
            snapshot, stream, cursor = create.result()
        except (TransientError, RequestRejectedError, BackendRefusedError) as raised:
            # A success not the API's, from a server that has answered properly, is its glitch.
            exc = self._glitches.judged(raised)
            turn.met(exc)
            outcome = self._refusals.refused(row, exc)
            if exc is raised and isinstance(exc, BackendRefusedError):
                raise  # about the run, not the row
            if isinstance(exc, BackendRefusedError):
                raise exc from raised  # glitches, one after another
            if isinstance(exc, RequestRejectedError):
                self._refusals.refused_alike(key, exc)
            return outcome
        turn.met(None)
        self._glitches.answered()
        self._alike.taken()
        context.silence.answers += 1
        if (holder := self._holder_besides(key, snapshot)) is not None:
            if stream is not None:
                await stream.aclose()
            said = (
                f"the server answered the creates of rows {holder} and {key} with the same response id "
                f"({snapshot.response_id!r}): it does not keep responses apart, so one row would be given "
                "the other's answer"
            )
            context.maybe_created(row, said)  # a job may exist for it: counted, as for any so answered
            raise NotTheApiError(said)
        context.apply(key, record.accepted(snapshot, row, now(), cursor=cursor, model=context.policy.model))
        if context.background is not None:
            self._no_background.created(snapshot, streamed=stream is not None)
        self._first.answered()
        if snapshot.terminal:
            return snapshot
        # The token is durable before anything waits on it, and at once: until then a crash would leave
        # a paid job no run can find (followers still share this write).
        await context.table.commit(urgent=True)
        return stream

    async def _stopping(
        self, row: RowState, create: asyncio.Future[Created], waits: AnswersAwaited | None
    ) -> None:
        """The run is stopping (Ctrl-C, a refused key) with this create on the wire. A background create
        answers within moments, so give it `STOP_GRACE` seconds: answered, the row holds its token and
        the runner cancels the job on the server with the others; unanswered, or stopped again, the job
        may exist, and the row counts it as maybe created. A chat create (`waits`: its whole answer, which
        the server writes and bills either way) stopped by Ctrl-C is waited for to its end, until Ctrl-C
        comes again (`run.answers_awaited`)."""
        waited = waits is not None and waits.stop_asked
        try:
            await asyncio.wait([create], timeout=None if waited else STOP_GRACE)
        finally:
            if waited and create.done():
                self.context.waited_on_stop.add(row.row_key)  # kept: said by the runner's stop
            if not create.done():
                create.cancel()
                await asyncio.wait([create])  # let it close its connection or stream
                self.context.maybe_created(row, "the run stopped while this create was in flight")
                self.context.cut_on_stop.add(row.row_key)
            elif (error := create.exception()) is not None:
                if isinstance(error, TransientError | RequestRejectedError | BackendRefusedError):
                    self._refusals.refused(row, error)
                else:
                    # Reading its answer failed otherwise (a bug, a surprise): the job may exist all the
                    # same. Left `submitting`, it was counted only when a later run opened the table. Its
                    # type alone: a crash's words are not masked of keys here (`driver.masked`).
                    said = f"the run stopped while this create was in flight ({type(error).__name__})"
                    self.context.maybe_created(row, said, answer_lost=False)
                    self.context.cut_on_stop.add(row.row_key)
                if isinstance(error, RequestRejectedError):
                    self._refusals.refused_alike(row.row_key, error, stopping=True)
            else:
                snapshot, stream, cursor = create.result()
                context, key = self.context, row.row_key
                policy = context.policy
                context.apply(key, record.accepted(snapshot, row, now(), cursor=cursor, model=policy.model))
                if snapshot.terminal:  # a foreground backend's answer: the row's end, paid for, kept
                    ended = record.ended(
                        snapshot, context.table.get(key), now(), max_attempts=policy.max_attempts,
                        output_schema=policy.output_schema, cost=context.spend.settle(key, snapshot),
                    )  # fmt: skip
                    context.apply(key, ended)
                if stream is not None:
                    await stream.aclose()

    def _holder_besides(self, key: str, snapshot: Snapshot) -> str | None:
        """The other row already waiting on the response id `key`'s create was answered with, if any (a
        server that names one id for many creates: a trial's gave every row `resp_same`, and every row
        recorded the last one's answer); else the id is held for `key`."""
        if snapshot.response_id is None or snapshot.terminal:
            return None
        holder = self.context.holders.setdefault(snapshot.response_id, key)
        return None if holder == key else holder
