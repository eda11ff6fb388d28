"""A server-sent event stream of the lean transport (wire.py), read as the SDK's `AsyncStream` reads a
Responses stream, and the SDK's exceptions for failures while reading an answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import httpx2
import openai
import orjson

from rowrelay.tasks.llm.sse import EventDecoder


class EventStream:
    """The events of one opened server-sent event stream, each its JSON object, as the SDK's `AsyncStream`
    reads a Responses stream: `data: [DONE]` ends it (the rest of the body is drained, for 0.1 s at most,
    so the connection can be used again), an event whose JSON has a truthy `error` raises the SDK's
    `APIError` (with its message and body), a timeout or cut connection its `APITimeoutError` or
    `APIConnectionError`, and data that is not JSON the JSON decoder's `ValueError`. Use it as an async
    context manager: leaving it gives the connection back (or closes it, if the body was not all read).

    `passable` names the events a reader that keeps only the latest one may skip (text deltas, say): such
    an event read in one piece with the event after it is not decoded at all, only counted
    (`take_passed`), and the last one's data kept should its sequence number be wanted
    (`last_passed_number`). A fast server's stream arrives dozens of events a read, and decoding each one
    the next supersedes was most of what the stream cost this side. Streams that name no events
    (`event:`) are decoded whole.
    """

    __slots__ = (
        "_answer",
        "_decoder",
        "_done",
        "_head",
        "_mapping",
        "_method",
        "_passable",
        "_passed",
        "_passed_data",
        "_ready",
        "_url",
    )

    def __init__(
        self,
        answer: aiohttp.ClientResponse,
        method: str,
        url: str,
        passable: Callable[[bytes], bool] | None = None,
    ) -> None:
        self._answer, self._method, self._url = answer, method, url
        self._mapping = mapped(method, url)
        self._decoder = EventDecoder()
        self._ready: deque[tuple[bytes, bytes]] = deque()
        self._done = False
        self._head = b""  # the body's first bytes, read by `opens_as_json`
        self._passable = passable
        self._passed = 0
        self._passed_data = b""

    def take_passed(self) -> int:
        """The events passed over since the last call."""
        passed, self._passed = self._passed, 0
        return passed

    def last_passed_number(self) -> int | None:
        """The `sequence_number` of the last event passed over, if it has a readable one."""
        try:
            number = orjson.loads(self._passed_data)["sequence_number"]
        except (ValueError, TypeError, KeyError):
            return None
        return number if isinstance(number, int) else None

    @property
    def headers(self) -> Mapping[str, str]:
        return self._answer.headers

    @property
    def buffered(self) -> bool:
        """Whether the next event was read with this one (no wait to reach it), so a reader that keeps
        only the latest sequence number loses nothing by passing over this one."""
        return bool(self._ready) and not self._ready[0][1].startswith(b"[DONE]")

    def __aiter__(self) -> EventStream:
        return self

    async def opens_as_json(self) -> bool:
        """Whether the body starts as JSON, not events (`starts_as_json`): reads it up to its first
        byte that is not white space. What was read is kept for `whole`, or else decoded as events."""
        try:
            with self._mapping:
                head = await head_of(self._answer.content.readany)
        except BaseException:
            self.close()
            raise
        if starts_as_json(head):
            self._head = head
            return True
        self._ready.extend(self._decoder.feed_named(head))
        return False

    async def whole(self) -> httpx2.Response:
        """The whole answer, read (no events to come), as the httpx2 response the SDK's exceptions carry."""
        try:
            with self._mapping:
                content = self._head + await self._answer.read()
        finally:
            self.close()
        return as_httpx(self._method, self._url, self._answer, content)

    async def __anext__(self) -> Any:
        try:
            while not self._ready:
                if self._done:
                    raise StopAsyncIteration
                with self._mapping:
                    chunk = await self._answer.content.readany()
                if not chunk:  # the end of the body
                    raise StopAsyncIteration
                self._ready.extend(self._decoder.feed_named(chunk))
            name, data = self._ready.popleft()
            if data.startswith(b"[DONE]"):
                await self._drain()
                raise StopAsyncIteration
            passable = self._passable
            while (
                passable is not None
                and self._ready
                and passable(name)
                and not self._ready[0][1].startswith(b"[DONE]")
            ):
                self._passed += 1
                self._passed_data = data
                name, data = self._ready.popleft()
            event = orjson.loads(data)
            if isinstance(event, dict) and event.get("error"):
                raise _error_event(event["error"], sent(self._method, self._url, self._answer))
        except BaseException:
            # A stream that raised (or ended) is over, as the SDK's generator is once it has raised.
            self.close()
            raise
        return event

    async def _drain(self) -> None:
        """Read the rest of the body, as the SDK does after `[DONE]` on HTTP/1.1, so that the connection
        goes back to the pool; a failure here cannot undo the events already read."""
        with contextlib.suppress(TimeoutError, aiohttp.ClientError):
            async with asyncio.timeout(_DRAIN_SECONDS):
                while await self._answer.content.readany():
                    pass

    def close(self) -> None:
        self._done = True
        self._answer.release()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def head_of(read: Callable[[], Awaitable[bytes]]) -> bytes:
    """A body's first bytes, up to the first that is not white space (or all of it), each chunk from
    `read` (empty at the body's end): enough for `starts_as_json`, and no more is read."""
    head = b""
    while not head.strip() and (chunk := await read()):
        head += chunk
    return head


def starts_as_json(head: bytes) -> bool:
    """Whether a body whose start is `head` is JSON (an object, or an array), not events: no line of an
    event stream starts with a bracket (each is a field's name, a comment or blank)."""
    return head.lstrip()[:1] in (b"{", b"[")


def as_httpx(method: str, url: str, answer: aiohttp.ClientResponse, content: bytes) -> httpx2.Response:
    """An answer as the httpx2 response the SDK's exceptions carry (and `translate` reads). aiohttp has
    already decoded `content`: a `content-encoding` left on it had httpx2 decode it again, and fail (a
    gzipped answer raised `DecodingError`, not the SDK's exception for it)."""
    headers = [(name, value) for name, value in answer.headers.items() if name.lower() not in _ENCODED]
    return httpx2.Response(answer.status, headers=headers, content=content, request=sent(method, url, answer))


def sent(method: str, url: str, answer: aiohttp.ClientResponse) -> httpx2.Request:
    """The request an answer answers, with the headers it was sent with, as the SDK's exceptions carry
    it: its credentials are what `sdk_errors.translate` masks in the server's words (masking.py), and
    its query what it asked (`stream=true` tells a stream's resume from a poll, `unusual_statuses`)."""
    query = tuple(answer.request_info.url.query.items())
    return httpx2.Request(method, url, params=query, headers=list(answer.request_info.headers.items()))


def _error_event(error: Any, request: httpx2.Request) -> openai.APIError:
    """The SDK's exception for an event carrying an error, with the SDK's fallback message."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message, request, body=error)


_ENCODED = frozenset({"content-encoding", "content-length"})
"""Headers that describe the body as it came over the wire, not as aiohttp hands it over."""
_DRAIN_SECONDS = 0.1
"""The SDK's own bound (openai/_streaming_cleanup.py) on reading the rest of a stream after `[DONE]`."""


class mapped:
    """aiohttp's timeouts and connection failures as the SDK's exceptions, for the block it guards.

    A class, not `contextlib.contextmanager`: a stream reads under it once per chunk, a dozen times a row
    in tests/benchmarks/bench_tier5.py's stream run, and the generator-based one cost 1.7 µs a use
    against 0.2 µs for one instance kept by its `EventStream` for all its reads (timeit).
    """

    __slots__ = ("_method", "_url")

    def __init__(self, method: str, url: str) -> None:
        self._method, self._url = method, url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if isinstance(exc, TimeoutError):
            raise openai.APITimeoutError(request=httpx2.Request(self._method, self._url)) from exc
        if isinstance(exc, aiohttp.ClientError):
            raise openai.APIConnectionError(request=httpx2.Request(self._method, self._url)) from exc
