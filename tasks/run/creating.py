"""How a row's create goes out: plain, or streamed (stream mode, and poll mode's first rows) and read up
to the first event that names its job; and poll mode's way round a server that refuses streamed creates,
or a gateway that cuts their streams before the id came (`run.cut_streams`).

    snapshot, live, cursor = await create(context, request)   # live: the stream to follow, if streamed
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable

from rowrelay.tasks.llm import RequestRejectedError, RowRequest, Snapshot, StreamCutError, StreamUpdate
from rowrelay.tasks.llm.refusals import refuses_stream
from rowrelay.tasks.run.context import RowContext
from rowrelay.tasks.run.cut_streams import fall_back_if_cut

log = logging.getLogger("rowrelay.submit")

Live = AsyncGenerator[StreamUpdate, None]
"""A stream opened by the create itself, handed on to the wait so no event is missed."""
Created = tuple[Snapshot, Live | None, int | None]
"""A create's first answer, the live stream when streaming, and that stream's cursor."""


async def create(context: RowContext, request: RowRequest) -> Created:
    """Send the row's create the way the run sends it, and return its first answer."""
    background = context.background
    if background is None:
        return await context.backend.create(request), None, None
    if context.streaming:
        return await _watched(context, first_event(background.create_stream(request)))
    if not context.pace.take_stream(context.policy.poll_streams):
        return await context.backend.create(request), None, None
    # Poll mode follows a few responses on their create's stream: no polls, seen the moment they
    # end; the first rows streamed this way are the scouts every other row is polled by.
    try:
        return await _watched(context, first_event(context.pace.streamed(background.create_stream(request))))
    except RequestRejectedError as refused:
        # Refused as invalid, so nothing started. A server that takes background creates but not
        # streamed ones (some OpenAI-compatible servers) refuses every row this way: ask without
        # the stream, and if that is taken, stream nothing more in this run. A row's own refusal (its
        # input too long) is not that, and would meet the plain create too: it is the row's.
        if not refuses_stream(refused):
            raise
        created = await context.backend.create(request)
        if not context.pace.refused_streams:
            log.warning(
                "the server refused a streamed background create (%s) and took it without the "
                "stream: this run polls every row",
                refused,
            )
        context.pace.refused_streams = True
        return created, None, None


async def _watched(context: RowContext, created: Awaitable[Created]) -> Created:
    """A streamed create's first answer, counted for `run.cut_streams`: a stream cut before its id came
    is said to the outage watch as such, and once too many are, the run streams nothing more."""
    try:
        answer = await created
    except StreamCutError as cut:
        context.silence.streams_cut += 1
        fall_back_if_cut(context, cut)
        raise
    context.pace.cut_streams.named()
    return answer


async def first_event(stream: Live) -> Created:
    """The stream's first event that names the response (closing the stream if it fails first)."""
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
    # Opened, so taken, and ended: a gateway that cut it cleanly, or buffered it and gave up.
    raise StreamCutError("the create's stream ended before any event named the response")
