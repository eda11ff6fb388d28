"""Server-sent event streams of a response's timeline: live, replayed, resumed, cut and cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from rowrelay.tasks.emulator.jobs import Job
from rowrelay.tasks.emulator.payloads import sse, stream_event
from rowrelay.tasks.emulator.service import Emulator
from rowrelay.tasks.emulator.timeline import Record

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
    if job is None:
        body = _events(emu, record, after, include, obfuscation)
    else:
        body = _create_stream(emu, record, include, obfuscation, job)
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream; charset=utf-8", headers=headers)


async def _create_stream(
    emu: Emulator, record: Record, include: frozenset[str], obfuscation: bool, job: Job
) -> AsyncIterator[bytes]:
    """The create's stream. The 200 and its SSE headers are sent before the first frame is asked for,
    so a cut here is a cut after the headers; `answered` is settled once an event carrying the id (any
    lifecycle event does) has been written, or when the stream ends without one."""
    kind = job.fault.kind if job.fault is not None else None
    try:
        if kind == "cut-before-events":
            raise StreamCut(f"stream of {record.id} cut before its first event")
        if kind == "empty-stream":
            return
        # Skipping `response.created` is resuming after it: the numbering stays the service's.
        after = 0 if kind == "skip-created" else -1
        async for frame in _events(emu, record, after, include, obfuscation):
            yield frame
            if frame.startswith(b"event: "):  # not a keep-alive comment
                emu.settle(job, answered=True)
    finally:
        emu.settle(job, answered=False)  # a no-op once answered


async def _events(
    emu: Emulator, record: Record, after: int, include: frozenset[str], obfuscation: bool
) -> AsyncIterator[bytes]:
    entries = record.entries
    index = max(0, after + 1)
    sent = 0
    while True:
        visible = len(record.visible(emu.elapsed(record)))
        while index < visible:
            event = stream_event(
                record,
                entries,
                index,
                error_shape=emu.config.error_shape,
                obfuscation=obfuscation,
                include=include,
            )
            yield sse(event)
            index += 1
            sent += 1
            if record.drop_after is not None and sent >= record.drop_after and index < len(entries):
                raise StreamCut(f"stream of {record.id} cut after {sent} events")
        ended = index >= len(entries) and record.finished_after is not None
        if ended or record.cancelled_after is not None or emu.get(record.id) is None:
            break
        # A stuck response has no next entry: it waits (with keep-alives) until cancelled.
        wait = entries[index].offset - emu.elapsed(record) if index < len(entries) else float("inf")
        woken = await _wait(emu, record, min(max(wait, 0.0), _KEEPALIVE_SECONDS))
        if not woken and wait > _KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
    if record.finished_after is not None:
        emu.watchers.pop(record.id, None)  # a finished response is never cancelled: free its event
    if emu.config.done_sentinel and record.cancelled_after is None:
        yield b"data: [DONE]\n\n"


async def _wait(emu: Emulator, record: Record, seconds: float) -> bool:
    """Sleep up to `seconds`; True if woken early because the response was cancelled or deleted."""
    try:
        await asyncio.wait_for(emu.watcher(record.id).wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
