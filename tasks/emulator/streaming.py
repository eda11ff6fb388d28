"""Server-sent event streams of a response's timeline: live, replayed, resumed, cut and cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from rowrelay.tasks.emulator.jobs import Job
from rowrelay.tasks.emulator.service import Emulator
from rowrelay.tasks.emulator.stream_events import sse, stream_event
from rowrelay.tasks.emulator.timeline import Record, finish_of

_KEEPALIVE_SECONDS = 15.0


class StreamCut(Exception):
    """Raised inside a stream body to drop the connection mid-stream, as a flaky network would."""


class _HideStreamCuts(logging.Filter):
    """uvicorn logs an exception that aborts a response; a deliberate cut is not worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, StreamCut):
                return False
            exc = exc.__cause__ or exc.__context__ or _first_of_group(exc)
        return True


def _first_of_group(exc: BaseException) -> BaseException | None:
    group = getattr(exc, "exceptions", None)
    return group[0] if group else None


logging.getLogger("uvicorn.error").addFilter(_HideStreamCuts())


def refuse_resume(emu: Emulator, record: Record) -> str | None:
    """Why `GET ?stream=true` is refused for this response (400), or None if it may stream."""
    if not record.background:
        return "This response cannot be streamed because it was not created with background=true."
    if not record.stream:
        return "This response cannot be streamed because it was not created with stream=true."
    if emu.elapsed(record) > emu.config.stream_window:
        minutes = emu.config.stream_window / 60
        return f"This response can no longer be streamed because it is more than {minutes:g} minutes old"
    return None


RAW_SEND = "rowrelay.emulator.send"
"""Where the app keeps the server's own `send` in the scope: a stream's body chunks skip starlette's two
send wrappers, which only watch for the response's start (it still goes through them)."""


def stream_response(
    emu: Emulator,
    record: Record,
    after: int,
    include: frozenset[str],
    obfuscation: bool,
    *,
    job: Job | None = None,
) -> StreamingResponse:
    """Events with sequence_number > `after` (exclusive, like `starting_after`), then live ones, then end.

    `job` is given for the create's own stream: it meets the job's network fault, and settles whether
    the create was answered."""
    kind = job.fault.kind if job is not None and job.fault is not None else None
    if kind in ("cut-before-events", "empty-stream"):
        body = _no_events(record, cut=kind == "cut-before-events")
    else:
        # Skipping `response.created` is resuming after it: the numbering stays the service's.
        after = 0 if kind == "skip-created" else after
        body = _events(emu, record, after, include, obfuscation)
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return _EventStream(body, emu, job, media_type="text/event-stream; charset=utf-8", headers=headers)


class _EventStream(StreamingResponse):
    """starlette's StreamingResponse, lighter by the frame. uvicorn (ASGI spec 2.3) quietly drops what
    is sent to a client that left, so the stream must watch `receive` to stop (and to settle a create's
    `answered`). A watcher task cancels the stream's own task when the client leaves: anyio's task group
    did it for about a tenth of a stream's CPU (most of it formatting the task's repr at every cancel),
    and a second task for the body with `asyncio.wait` over both for a few percent more.

    The create's stream settles `answered` once an event carrying the id (any lifecycle event does) has
    been written, or when the stream ends without one. The 200 and its SSE headers are sent before the
    first frame is asked for, so a cut (StreamCut) is a cut after the headers."""

    def __init__(self, body: AsyncIterator[bytes], emu: Emulator, job: Job | None, **options: Any) -> None:
        super().__init__(body, **options)
        self._frames, self._emu, self._job = body, emu, job

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None, "an ASGI app runs in a task"
        watching = asyncio.ensure_future(_until_disconnected(receive))

        def client_left(_: object) -> None:
            streaming.cancel()

        watching.add_done_callback(client_left)
        try:
            await self._stream(send, scope.get(RAW_SEND, send))
        except asyncio.CancelledError:
            if not (watching.done() and not watching.cancelled()):
                raise  # not the client's departure: the server is stopping
            streaming.uncancel()
        finally:
            # At once, with no await before it: the watcher returns as soon as the response is complete.
            watching.remove_done_callback(client_left)
            watching.cancel()

    async def _stream(self, send: Send, raw_send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        job = self._job
        try:
            async for frame in self._frames:
                await raw_send({"type": "http.response.body", "body": frame, "more_body": True})
                if job is not None and frame.startswith(b"event: "):  # events, not a keep-alive comment
                    self._emu.settle(job, answered=True)
                    job = None
        finally:
            if job is not None:
                self._emu.settle(job, answered=False)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        continue


async def _no_events(record: Record, *, cut: bool) -> AsyncIterator[bytes]:
    """The body of a create's stream whose network fault cuts it, or ends it, before its first event."""
    if cut:
        raise StreamCut(f"stream of {record.id} cut before its first event")
    return
    yield  # an async generator with nothing to give


async def _events(
    emu: Emulator, record: Record, after: int, include: frozenset[str], obfuscation: bool
) -> AsyncIterator[bytes]:
    """The frames of events after `after`, each as soon as it has happened. The events that have happened
    when the stream looks go out as one body chunk: the same bytes as a chunk each, for a fraction of the
    ASGI sends, socket writes and TCP segments (a response's events come in bursts: created and queued
    together, three at the start of work, four or five at its end)."""
    # The timeline never changes once made (a cancel only moves the horizon): build it once per stream,
    # not at every look (`Record.entries` builds it anew, to keep held responses small).
    entries = record.entries
    total, finish = len(entries), finish_of(entries)
    index = max(0, after + 1)
    sent = 0
    while True:
        horizon = record.horizon(emu.elapsed(record))
        frames: list[bytes] = []
        while index < total and entries[index].offset <= horizon:
            event = stream_event(
                record,
                entries,
                index,
                error_shape=emu.config.error_shape,
                obfuscation=obfuscation,
                include=include,
            )
            frames.append(sse(event))
            index += 1
            sent += 1
            if record.drop_after is not None and sent >= record.drop_after and index < total:
                yield b"".join(frames)
                raise StreamCut(f"stream of {record.id} cut after {sent} events")
        ended = index >= total and finish is not None
        if frames:
            if ended:
                emu.telling_end(record.id)
            yield b"".join(frames)
        if ended or record.cancelled_after is not None or emu.get(record.id) is None:
            break
        # A stuck response has no next entry: it waits (with keep-alives) until cancelled.
        wait = entries[index].offset - emu.elapsed(record) if index < total else float("inf")
        woken = await emu.pause(record.id, min(max(wait, 0.0), _KEEPALIVE_SECONDS))
        if not woken and wait > _KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
    if finish is not None:
        emu.watchers.pop(record.id, None)  # a finished response is never cancelled: nothing to wake
    if emu.config.done_sentinel and record.cancelled_after is None:
        yield b"data: [DONE]\n\n"
