"""Streamed creates and resumes on both of the Responses backend's transports: the same updates, the same
errors, for every way a stream can go.

The first table drives a server on a real socket that answers 200 with a scripted event stream, then
ends it, cuts the connection, or goes quiet past the client's timeout; both transports (the SDK's
`AsyncStream`, and the lean one, tasks/llm/wire.py) must yield exactly the listed updates and then raise
exactly the listed error, for a create (`create_stream`) and a resume (`resume`). The lean transport may
hand text deltas read in one piece with the event after them on as that event (`StreamUpdate.events`), so
the updates are checked event by event: each stands for its next `events` listed ones and carries the last
of them. The second part reads the emulator's real streams (text, reasoning, failed, incomplete, cut) on
both and compares them whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import openai
import orjson
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import TransientError
from rowrelay.tasks.llm.calls import (
    MaybeSentError,
    NotTheApiError,
    RowRequest,
    StreamCutError,
    StreamErrorEvent,
    StreamUnavailableError,
    StreamUpdate,
)
from rowrelay.tasks.llm.responses_backend import ResponsesBackend, Transport
from tests.support.raw_http import backend_on, raw_server, read_request

TRANSPORTS: list[Transport] = ["sdk", "lean"]
TIMEOUT = 1.0  # the client's, where the stream goes quiet: it must time out
REQUEST = RowRequest(
    row_key="row-1", prompt="hi", instructions=None, model="gpt-4.1-mini", metadata={"rowrelay_row": "row-1"}
)


def frame(event: dict[str, Any], newline: bytes = b"\n") -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + newline + b"data: " + orjson.dumps(event) + newline + newline


def _response(status: str) -> dict[str, Any]:
    output = []
    if status == "completed":
        content = [{"type": "output_text", "text": "Hello there.", "annotations": []}]
        output = [
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": content}
        ]
    return {"id": "resp_1", "object": "response", "status": status, "model": "gpt-4.1-mini", "output": output}


CREATED = frame({"type": "response.created", "sequence_number": 0, "response": _response("queued")})
DELTA = frame({"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hello",
               "item_id": "msg_1", "output_index": 0, "content_index": 0, "logprobs": []})  # fmt: skip
COMPLETED = frame({"type": "response.completed", "sequence_number": 2, "response": _response("completed")})
DELTA_2 = frame({"type": "response.output_text.delta", "sequence_number": 2, "delta": " there.",
                 "item_id": "msg_1", "output_index": 0, "content_index": 0, "logprobs": []})  # fmt: skip
COMPLETED_3 = frame({"type": "response.completed", "sequence_number": 3, "response": _response("completed")})
NESTED_ERROR = frame({"type": "error", "sequence_number": 1, "error": {"type": "server_error",
                      "code": "server_error", "message": "The model broke"}})  # fmt: skip
FLAT_ERROR = frame({"type": "error", "sequence_number": 1, "code": "server_error",
                    "message": "The model broke", "param": None})  # fmt: skip
ERROR_3 = frame({"type": "error", "sequence_number": 3, "error": {"type": "server_error",
                 "code": "server_error", "message": "The model broke"}})  # fmt: skip


def _unnumbered(*frames: bytes) -> tuple[bytes, ...]:
    events = [orjson.loads(one.split(b"data: ")[1]) for one in frames]
    return tuple(frame({k: v for k, v in event.items() if k != "sequence_number"}) for event in events)


UNNUMBERED = _unnumbered(CREATED, DELTA, DELTA_2, COMPLETED_3)


@dataclass(frozen=True)
class Script:
    """The body the server streams, one HTTP chunk per item, and how it ends."""

    chunks: tuple[bytes, ...]
    end: Literal["end", "cut", "hang"] = "end"


@dataclass(frozen=True)
class Outcome:
    updates: tuple[tuple[int, str | None], ...]  # (sequence number, the snapshot's status or None)
    error: type[Exception] | None = None
    says: str = ""


WHOLE = Outcome(((0, "queued"), (1, None), (2, "completed")))
UNNUMBERED_READ = Outcome(((-1, "queued"), (-1, None), (-1, None), (-1, "completed")))
UNNUMBERED_CUT = Outcome(((-1, "queued"), (-1, None)), StreamUnavailableError, "numbers no stream events")
CUT_NAMED = Outcome(((0, "queued"), (1, None)), TransientError, "connection problem")
TWO_DELTAS = ((0, "queued"), (1, None), (2, None))
CRLF = frame(orjson.loads(CREATED.split(b"data: ")[1]), b"\r\n")

# (case, what the server streams, what a create yields and raises, what a resume yields and raises)
CASES: list[tuple[str, Script, Outcome, Outcome]] = [
    ("whole", Script((CREATED, DELTA, COMPLETED)), WHOLE, WHOLE),
    ("one-chunk", Script((CREATED + DELTA + COMPLETED,)), WHOLE, WHOLE),
    ("split-anywhere", Script(tuple(bytes([b]) for b in CREATED + DELTA + COMPLETED)), WHOLE, WHOLE),
    ("crlf-and-keepalives", Script((b": keepalive\r\n\r\n", CRLF[:-3], CRLF[-3:] + b": ping\n\n",
                                    DELTA, COMPLETED)), WHOLE, WHOLE),
    ("empty", Script(()), Outcome(()), Outcome(())),
    ("done-sentinel", Script((CREATED, b"data: [DONE]\n\n", COMPLETED)), Outcome(((0, "queued"),)),
     Outcome(((0, "queued"),))),
    ("cut-after-naming", Script((CREATED, DELTA), "cut"), CUT_NAMED, CUT_NAMED),
    # Deltas read in one piece, then the stream breaks: the last update carries the last delta read, the
    # cursor a resume starts from.
    ("cut-after-deltas-in-one-piece", Script((CREATED + DELTA + DELTA_2,), "cut"),
     Outcome(TWO_DELTAS, TransientError, "connection problem"),
     Outcome(TWO_DELTAS, TransientError, "connection problem")),
    ("error-after-deltas-in-one-piece", Script((CREATED + DELTA + DELTA_2 + ERROR_3,)),
     Outcome(TWO_DELTAS, StreamErrorEvent, "The model broke"),
     Outcome(TWO_DELTAS, StreamErrorEvent, "The model broke")),
    ("not-json-after-deltas-in-one-piece", Script((CREATED + DELTA + DELTA_2 + b"data: {oops\n\n",)),
     Outcome(TWO_DELTAS, ValueError), Outcome(TWO_DELTAS, ValueError)),
    ("cut-mid-event", Script((CREATED, DELTA[:20]), "cut"), Outcome(((0, "queued"),), TransientError,
     "connection problem"), Outcome(((0, "queued"),), TransientError, "connection problem")),
    # Opened, then cut or quiet before any event: told apart as a stream cut (run.cut_streams).
    ("cut-before-events", Script((), "cut"), Outcome((), StreamCutError, "connection problem"),
     Outcome((), TransientError, "connection problem")),
    ("quiet-after-naming", Script((CREATED,), "hang"), Outcome(((0, "queued"),), TransientError, "timed out"),
     Outcome(((0, "queued"),), TransientError, "timed out")),
    ("quiet-before-events", Script((), "hang"), Outcome((), StreamCutError, "timed out"),
     Outcome((), TransientError, "timed out")),
    # An `error` event in the nested shape production sends is raised; before any event named the
    # response, the create's job may exist unseen.
    ("error-before-naming", Script((NESTED_ERROR,)), Outcome((), MaybeSentError, "The model broke"),
     Outcome((), StreamErrorEvent, "The model broke")),
    ("error-after-naming", Script((CREATED, NESTED_ERROR, COMPLETED)),
     Outcome(((0, "queued"),), StreamErrorEvent, "The model broke"),
     Outcome(((0, "queued"),), StreamErrorEvent, "The model broke")),
    # The spec's flat `error` event carries no `error` member: an event like any other.
    ("flat-error", Script((CREATED, FLAT_ERROR, COMPLETED)), WHOLE, WHOLE),
    # Keep-alives some compatible servers send between events: an event with no `type`, one with no
    # data at all. Nothing to read in them: every row of such a stream failed on the lean transport (and
    # on both for the one with no data).
    ("keep-alive-events", Script((CREATED, b"event: ping\ndata: {}\n\n", b"event: keepalive\n\n" + DELTA,
                                  b"data: {}\n\n" + COMPLETED)), WHOLE, WHOLE),
    # A server that numbers no events: no cursor (-1, as before the first event), on both transports.
    ("unnumbered", Script((b"".join(UNNUMBERED),)), UNNUMBERED_READ, UNNUMBERED_READ),
    ("unnumbered-an-event-a-chunk", Script(UNNUMBERED), UNNUMBERED_READ, UNNUMBERED_READ),
    # Broken after an unnumbered event, a stream cannot resume where it broke: it is polled.
    ("unnumbered-cut", Script(UNNUMBERED[:2], "cut"), UNNUMBERED_CUT, UNNUMBERED_CUT),
]  # fmt: skip


def streaming(script: Script) -> contextlib.AbstractAsyncContextManager[str]:
    """A server answering every request with `script` (chunked); yields /v1."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"x-ratelimit-remaining-requests: 41\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for chunk in script.chunks:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            await asyncio.sleep(0)
        if script.end == "end":
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        elif script.end == "hang":
            await stop.wait()

    return raw_server(handle)


def backend_at(
    url: str, transport: Transport, seen: list[Mapping[str, str]] | None = None, *, quiet: bool = False
) -> contextlib.AbstractAsyncContextManager[ResponsesBackend]:
    """`quiet`: the server will go quiet, so the client's timeout is short enough to end the test."""
    on_headers = None if seen is None else seen.append
    return backend_on(url, transport, quiet_timeout=TIMEOUT if quiet else None, on_headers=on_headers)


async def read(updates: AsyncGenerator[StreamUpdate, None]) -> tuple[list[StreamUpdate], Exception | None]:
    got: list[StreamUpdate] = []
    try:
        async for update in updates:
            got.append(update)
    except Exception as exc:  # the table says which
        return got, exc
    return got, None


def events_of(updates: list[StreamUpdate]) -> list[tuple[int, str | None]]:
    """The events the updates stand for, as (sequence number, status): an update of `events` n stands for
    n events, only the last of which (its own) is known; the others are text deltas, None."""
    events: list[tuple[int, str | None]] = []
    for update in updates:
        assert update.events >= 1, update
        events += [(-1, None)] * (update.events - 1)
        events.append((update.sequence_number, update.snapshot.status if update.snapshot else None))
    return events


def _check(got: tuple[list[StreamUpdate], Exception | None], expected: Outcome) -> None:
    updates, error = got
    events = events_of(updates)
    assert len(events) == len(expected.updates), (events, expected.updates)
    for (number, status), (want_number, want_status) in zip(events, expected.updates, strict=True):
        passed_over = (number, status) == (-1, None) and want_status is None  # a lifecycle event never is
        assert (number, status) == (want_number, want_status) or passed_over, (events, expected.updates)
    if updates:  # a break, or the end, leaves the cursor at the last event read
        assert updates[-1].sequence_number == expected.updates[-1][0]
    if expected.error is None:
        assert error is None, repr(error)
        return
    if expected.error is ValueError:  # data that is not JSON: each JSON decoder's own kind of it
        assert isinstance(error, ValueError), repr(error)
        return
    assert type(error) is expected.error, repr(error)
    assert isinstance(error.__cause__, openai.OpenAIError), "translated with `raise ... from exc`"
    assert expected.says in str(error)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("script", "on_create", "on_resume"),
    [pytest.param(script, create, resume, id=case) for case, script, create, resume in CASES],
)
async def test_every_way_a_stream_goes_reads_the_same_on_both_transports(
    script: Script, on_create: Outcome, on_resume: Outcome, transport: Transport
) -> None:
    seen: list[Mapping[str, str]] = []
    async with (
        streaming(script) as url,
        backend_at(url, transport, seen, quiet=script.end == "hang") as backend,
    ):
        _check(await read(backend.create_stream(REQUEST)), on_create)
        _check(await read(backend.resume("resp_1", 0)), on_resume)
    assert [headers.get("x-ratelimit-remaining-requests") for headers in seen] == ["41"], (
        "a create's headers reach the rate budget; a resume's do not"
    )


async def test_a_completed_stream_carries_the_whole_snapshot_on_both_transports() -> None:
    """The terminal event's snapshot is read in full, text and all, the same from the SDK's model and
    from the lean transport's JSON."""
    results = []
    for transport in TRANSPORTS:
        async with (
            streaming(Script((CREATED, DELTA, COMPLETED))) as url,
            backend_at(url, transport) as backend,
        ):
            updates, error = await read(backend.create_stream(REQUEST))
        assert error is None
        results.append(updates)
    assert _read_as(results[0]) == _read_as(results[1])
    last = results[1][-1].snapshot
    assert last is not None
    assert (last.response_id, last.status, last.output_text) == ("resp_1", "completed", "Hello there.")


async def test_text_deltas_read_in_one_piece_with_the_event_after_them_are_handed_on_as_that_event() -> None:
    """A fast server's stream (or one a busy reader catches up on) arrives in large pieces, dozens of
    deltas each; handing each up the waiter's generators cost a streamed row as much CPU as reading it.
    The lean transport hands on the event after them, counting them, and says of each update whether the
    next event was read with it (so a reader may record that one instead); the SDK's hands on each."""
    script = Script((CREATED + DELTA + DELTA_2 + COMPLETED_3,))
    read_by: dict[str, list[tuple[int, str | None, int, bool]]] = {}
    for transport in TRANSPORTS:
        async with streaming(script) as url, backend_at(url, transport) as backend:
            updates, error = await read(backend.create_stream(REQUEST))
        assert error is None, repr(error)
        read_by[transport] = [
            (u.sequence_number, u.snapshot.status if u.snapshot else None, u.events, u.more) for u in updates
        ]
    assert read_by["lean"] == [(0, "queued", 1, True), (3, "completed", 3, False)]
    sdk = [(0, "queued", 1, False), (1, None, 1, False), (2, None, 1, False), (3, "completed", 1, False)]
    assert read_by["sdk"] == sdk


async def test_named_deltas_read_with_the_event_after_them_are_never_decoded_on_the_lean_transport() -> None:
    """Decoding each delta that the next event supersedes was most of what a fast stream cost: the lean
    transport skips a `response.*` delta by its `event:` name when the next event is already read, so
    its data is not even parsed, and a garbled one there is passed over where the SDK's decoder raises;
    so is `response.queued`, which says no more than `response.created` before it. The last event read
    (its number is the cursor) and an unnamed event are decoded as before."""
    garbled = b"event: response.output_text.delta\ndata: {garbled\n\n"
    queued = b"event: response.queued\ndata: {garbled\n\n"
    unnamed = b"data: {garbled\n\n"
    cases: list[tuple[Transport, bytes, tuple[list[tuple[int, str | None, int]], type[Exception] | None]]] = [
        ("lean", CREATED + garbled + DELTA_2 + COMPLETED_3, ([(0, "queued", 1), (3, "completed", 3)], None)),
        ("sdk", CREATED + garbled + DELTA_2 + COMPLETED_3, ([(0, "queued", 1)], ValueError)),
        ("lean", CREATED + DELTA + garbled, ([(0, "queued", 1), (1, None, 1)], ValueError)),
        ("lean", CREATED + unnamed + DELTA_2 + COMPLETED_3, ([(0, "queued", 1)], ValueError)),
        ("lean", CREATED + queued + DELTA_2 + COMPLETED_3, ([(0, "queued", 1), (3, "completed", 3)], None)),
        ("sdk", CREATED + queued + DELTA_2 + COMPLETED_3, ([(0, "queued", 1)], ValueError)),
        ("lean", CREATED + queued, ([(0, "queued", 1)], ValueError)),
    ]
    for transport, body, want in cases:
        async with streaming(Script((body,))) as url, backend_at(url, transport) as backend:
            updates, error = await read(backend.create_stream(REQUEST))
        got = [(u.sequence_number, u.snapshot.status if u.snapshot else None, u.events) for u in updates]
        assert got == want[0], (transport, body)
        assert error is None if want[1] is None else isinstance(error, want[1]), (transport, repr(error))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_last_delta_read_is_handed_on_before_the_stream_waits_for_more(
    transport: Transport,
) -> None:
    """The cursor is current while the stream is quiet: the server sends its next event only once the
    reader has the delta before it. A transport that held the delta back for the next event would wait
    for ever here (and fail on the suite's timeout)."""
    handed = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for chunk in (CREATED + DELTA + DELTA_2, None, COMPLETED_3):
            if chunk is None:
                await handed.wait()
                continue
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with raw_server(handle) as url, backend_at(url, transport) as backend:
        stream = backend.create_stream(REQUEST)
        got = [await anext(stream)]
        while got[-1].sequence_number < 2:
            got.append(await anext(stream))
        handed.set()
        rest, error = await read(stream)
    assert error is None, repr(error)
    assert events_of(got) == [
        (0, "queued"),
        *([(1, None)] if transport == "sdk" else [(-1, None)]),
        (2, None),
    ]
    assert [(u.sequence_number, u.events) for u in rest] == [(3, 1)]


def _answering(
    body: bytes, content_type: str | None = "application/json", *, gzipped: bool = False
) -> contextlib.AbstractAsyncContextManager[str]:
    """A server that ignores `stream`: every request is answered with `body` (the response object, say)
    labelled `content_type` (None: no content type), gzipped if asked; a kept-alive connection's next
    request too."""
    sent = gzip.compress(body) if gzipped else body
    head = b"HTTP/1.1 200 OK\r\nx-ratelimit-remaining-requests: 41\r\n"
    head += b"" if content_type is None else b"content-type: %s\r\n" % content_type.encode()
    head += b"content-encoding: gzip\r\n" if gzipped else b""
    head += b"content-length: %d\r\n\r\n" % len(sent)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        while not reader.at_eof():
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return  # the client closed the connection
            writer.write(head + sent)
            await writer.drain()

    return raw_server(handle)


OBJECT = orjson.dumps(_response("queued"))
LABELS = {
    "json": ("application/json", False),
    "text": ("text/plain; charset=utf-8", False),
    "unlabelled": (None, False),
    "text-gzipped": ("text/plain", True),
    "octets-pretty": ("application/octet-stream", False),
}
"""How servers that ignore `stream` label the response object they answer with (`_answering`)."""


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("label", list(LABELS))
async def test_a_streamed_create_answered_with_the_response_object_names_its_job(
    transport: Transport, label: str
) -> None:
    """Some OpenAI-compatible servers ignore `stream` and answer the create with the response itself,
    labelled JSON or not (`text/plain`, no content type). The job exists and the body names it: read as a
    stream with no events, the create counted as maybe created and was sent again (paid twice), as it was
    for every label but JSON. Its headers still reach the rate budget."""
    content_type, gzipped = LABELS[label]
    body = orjson.dumps(_response("queued"), option=orjson.OPT_INDENT_2) if "pretty" in label else OBJECT
    seen: list[Mapping[str, str]] = []
    async with (
        _answering(b"\n" + body, content_type, gzipped=gzipped) as url,
        backend_at(url, transport, seen) as backend,
    ):
        updates, error = await read(backend.create_stream(REQUEST))
    assert error is None, repr(error)
    assert [(u.sequence_number, u.snapshot and u.snapshot.response_id) for u in updates] == [(-1, "resp_1")]
    assert updates[0].snapshot is not None
    assert updates[0].snapshot.status == "queued"
    assert [headers.get("x-ratelimit-remaining-requests") for headers in seen] == ["41"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("content_type", ["text/plain", None])
async def test_events_labelled_otherwise_are_still_read_as_events(
    transport: Transport, content_type: str | None
) -> None:
    """Told by its first bytes, a stream labelled `text/plain` or nothing is still a stream: its events
    are read as they come (the first chunk a keep-alive, the next the events)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        await read_request(reader)
        label = b"" if content_type is None else b"content-type: %s\r\n" % content_type.encode()
        writer.write(b"HTTP/1.1 200 OK\r\n" + label + b"transfer-encoding: chunked\r\n\r\n")
        for chunk in (b"\n", b": ping\n\n", CREATED + DELTA, COMPLETED):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with raw_server(handle) as url, backend_at(url, transport) as backend:
        _check(await read(backend.create_stream(REQUEST)), WHOLE)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_a_streamed_create_answered_with_json_that_is_no_object_is_not_the_api(
    transport: Transport, content_type: str
) -> None:
    """JSON cut short, or an array: a success that is not the API's answer, as a plain create's is, on
    both transports (it was a JSON decoder's error on the way up, or for `text/plain` a stream with no
    events, sent again)."""
    for body in (OBJECT[: len(OBJECT) // 2], b"[1, 2]"):
        async with _answering(body, content_type) as url, backend_at(url, transport) as backend:
            updates, error = await read(backend.create_stream(REQUEST))
        assert updates == []
        assert isinstance(error, NotTheApiError), repr(error)
        assert "which is not the API's answer" in str(error)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("label", list(LABELS))
async def test_a_stream_resume_answered_with_the_response_object_is_polled_instead(
    transport: Transport, label: str
) -> None:
    """Read as a stream that ended without its terminal event, the waiter would retrieve the row and
    resume it again at once, for as long as the response runs: a resume with no events is no stream."""
    content_type, gzipped = LABELS[label]
    async with (
        _answering(OBJECT, content_type, gzipped=gzipped) as url,
        backend_at(url, transport) as backend,
    ):
        updates, error = await read(backend.resume("resp_1", 3))
        assert updates == []
        assert isinstance(error, StreamUnavailableError), repr(error)
        assert (await backend.retrieve("resp_1")).status == "queued"  # the connection is still usable


# --- the emulator's own streams, whole -------------------------------------------------------------

EMULATED = {
    "text": (EmulatorConfig(), "gpt-4.1-mini"),
    "reasoning": (EmulatorConfig(), "o3"),
    "failed": (EmulatorConfig(fail_rate=1.0), "gpt-4.1-mini"),
    "incomplete": (EmulatorConfig(incomplete_rate=1.0), "gpt-4.1-mini"),
    "cut": (EmulatorConfig(drop_stream_after=4), "gpt-4.1-mini"),
}


@pytest.mark.parametrize("case", list(EMULATED))
async def test_the_emulators_streams_read_the_same_on_both_transports(case: str) -> None:
    """A create's stream on each transport (one emulator each, same seed: the same response but for its
    id), then a replay from the start and a resume from a cursor of one response on both: equal updates
    and equal errors."""
    config, model = EMULATED[case]
    config = replace(config, latency=LatencySpec.parse("fixed:0.3"), seed=5)
    request = replace(REQUEST, model=model)
    created: dict[str, tuple[tuple[list[StreamUpdate], int, int], str | None]] = {}
    ids: dict[str, str] = {}
    for transport in TRANSPORTS:
        with running_emulator(config) as emu:
            async with backend_at(emu.url, transport) as backend:
                updates, error = await read(backend.create_stream(request))
            named = next(u.snapshot for u in updates if u.snapshot is not None)
            assert named.response_id is not None
            ids[transport] = named.response_id
            created[transport] = (_read_as([_anonymous(u) for u in updates]), _name(error))
    assert created["sdk"] == created["lean"]
    assert created["lean"][0][2] >= 4
    with running_emulator(config) as emu:
        async with backend_at(emu.url, "sdk") as backend:
            await read(backend.create_stream(request))
        response_id = next(job["id"] for job in emu.emulator.jobs_listing())
        replays = []
        for transport in TRANSPORTS:
            async with backend_at(emu.url, transport) as backend:
                whole = await read(backend.resume(response_id, -1))
                after = await read(backend.resume(response_id, 2))
            replays.append((_read_as(whole[0]), _read_as(after[0]), _name(whole[1]), _name(after[1])))
    assert replays[0] == replays[1]
    assert replays[1][0][0][0].sequence_number == 0


def _anonymous(update: StreamUpdate) -> StreamUpdate:
    if update.snapshot is None:
        return update
    return replace(update, snapshot=replace(update.snapshot, response_id="resp"))


def _read_as(updates: list[StreamUpdate]) -> tuple[list[StreamUpdate], int, int]:
    """What a reader keeps of updates, however the transport grouped the events (deltas and a repeated
    `queued` passed over, and whether it knew the next event was read with one): every update carrying
    the response but a `queued` one after another, in order, the cursor at the end and how many events
    were read."""
    kept: list[StreamUpdate] = []
    for update in updates:
        last = kept[-1].snapshot if kept else None
        if update.snapshot is None or (
            last is not None and last.status == update.snapshot.status == "queued"
        ):
            continue
        kept.append(replace(update, events=1, more=False))
    return kept, updates[-1].sequence_number if updates else -1, sum(update.events for update in updates)


def _name(error: Exception | None) -> str | None:
    """The translated error, less the transport's own exception it quotes (`sdk_errors.translate`: a cut
    connection names what httpx or aiohttp raised, which differ by design)."""
    if error is None:
        return None
    text, transport = str(error), getattr(error.__cause__, "__cause__", None)
    if transport is not None:  # quoted whole, or only its first words (aiohttp's cut: not its code)
        head, quoted, _ = text.rpartition(f" ({type(transport).__name__}: ")
        text = head if quoted else text
    return f"{type(error).__name__}: {text}"
