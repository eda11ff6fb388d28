"""The hot path's transport on aiohttp and orjson: JSON calls (background creates, polls and cancels) and
server-sent event streams (streamed creates and resumes).

Through the SDK, each of these calls cost about 2 ms of CPU (building an httpx2 request, validating the
answer into pydantic models), which capped a run on one core near 250 calls/s; here they cost about a
tenth of that (tests/benchmarks/bench_throughput.py). A stream's events cost the SDK about 0.5 ms each
(a pydantic model per event, an SSE decoder per line); here each is one `orjson.loads` (sse.py decodes
the stream). The SDK stays the source of truth for all but the bytes on the wire:
- the URL, headers and query come from its client (`base_url`, `auth_headers`, `default_headers`,
  `default_query`): OpenAI's bearer key, Azure's `api-key` header and `api-version` query alike (read
  once: client.py gives every client a fixed key, never a token provider that would change them);
- an error answer becomes the SDK's own exception, by the SDK's own status-to-class mapping, and a
  timeout or cut connection the SDK's `APITimeoutError` or `APIConnectionError`, so `calls.translate`
  decides what each means exactly as it does for the SDK's calls; a stream's `error` event becomes
  the SDK's `APIError`, as its `AsyncStream` raises it;
- retries are the SDK's decisions (`_should_retry`, `_calculate_retry_timeout`), taken only when the
  caller allows them: never for a create (see client.py), up to the client's `max_retries` for reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import httpx2
import openai
import orjson
from openai._models import FinalRequestOptions

from rowrelay.tasks.llm.sse import EventDecoder

Json = dict[str, Any]
_T = TypeVar("_T")


class Wire:
    """One aiohttp session (made inside the running loop, on first use) speaking for one SDK client."""

    def __init__(self, client: openai.AsyncOpenAI, *, connections: int) -> None:
        self._client = client
        self._base = str(client.base_url)
        self._query = {name: str(value) for name, value in client.default_query.items()}
        # default_headers marks headers the caller removed with the SDK's `Omit`: only strings are sent.
        # The SDK's own telemetry (`X-Stainless-*`: its version, OS, runtime) describes calls the SDK
        # makes, which these are not; leaving it out also spares each call eight headers both ways.
        headers = {
            name: value
            for name, value in client.default_headers.items()
            if isinstance(value, str) and not name.lower().startswith("x-stainless-")
        }
        self._headers = {**headers, **client.auth_headers}
        # Azure with Microsoft Entra ID (tasks/llm/entra.py): the SDK asks its token provider for each
        # call, and so does this; the token is fetched once an hour, read from memory otherwise.
        self._token: Callable[[], Awaitable[str | None]] | None = None
        if isinstance(client, openai.AsyncAzureOpenAI) and client._azure_ad_token_provider is not None:
            self._token = client._get_azure_ad_token
        self._timeout = _timeout(client.timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # A pool that keeps every connection it opens: background calls are short and many.
            connector = aiohttp.TCPConnector(limit=self._connections, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                headers=self._headers, connector=connector, timeout=self._timeout, json_serialize=_dumps
            )
        return self._session

    async def call(
        self, method: str, path: str, body: Json | None = None, *, retries: int = 0
    ) -> tuple[Json, Mapping[str, str]]:
        """The JSON answer to one call and its headers; up to `retries` more tries where the SDK would
        retry. Raises the SDK's exceptions (`openai.OpenAIError`), as its own calls would."""
        url = self._base + path
        return await self._retrying(method, path, retries, lambda: self._once(method, url, body))

    async def stream(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        *,
        params: Mapping[str, str] | None = None,
        retries: int = 0,
    ) -> EventStream:
        """A server-sent event stream, opened: its status was a success (else the SDK's exception was
        raised, after up to `retries` more tries where the SDK would retry, as it retries opening a
        stream). Its events are read as they come; a failure while reading is never retried."""
        url = self._base + path
        answer = await self._retrying(method, path, retries, lambda: self._open(method, url, body, params))
        return EventStream(answer, method, url)

    async def _retrying(
        self, method: str, path: str, retries: int, attempt: Callable[[], Awaitable[_T]]
    ) -> _T:
        tries = 0
        while True:
            try:
                return await attempt()
            except openai.APIStatusError as exc:
                if tries >= retries or not self._client._should_retry(exc.response):
                    raise
                headers: httpx2.Headers | None = exc.response.headers
            except openai.APIConnectionError:  # timeouts too
                if tries >= retries:
                    raise
                headers = None
            options = FinalRequestOptions.construct(method=method.lower(), url=path, max_retries=retries)
            await asyncio.sleep(self._client._calculate_retry_timeout(retries - tries, options, headers))
            tries += 1

    async def _once(self, method: str, url: str, body: Json | None) -> tuple[Json, Mapping[str, str]]:
        # The body is read inside the try that may be retried, as the SDK reads a JSON answer's.
        answer = await self._open(method, url, body, None)
        with _mapped(method, url):
            try:
                content = await answer.read()
            finally:
                answer.release()
        try:
            parsed = orjson.loads(content)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            response = _response(method, url, answer.status, answer.headers, content)
            raise openai.APIResponseValidationError(response, content.decode(errors="replace"))
        return parsed, answer.headers

    async def _open(
        self, method: str, url: str, body: Json | None, params: Mapping[str, str] | None
    ) -> aiohttp.ClientResponse:
        """The answer with its body unread, if its status is a success; else the SDK's exception."""
        data = None if body is None else orjson.dumps(body)
        query = {**self._query, **params} if params else self._query or None
        token = None if self._token is None else await self._token()
        headers = None if token is None else {"Authorization": f"Bearer {token}"}
        with _mapped(method, url):
            answer = await self._http().request(method, url, data=data, params=query, headers=headers)
            if 200 <= answer.status < 300:
                return answer
            try:
                content = await answer.read()
            finally:
                answer.release()
        response = _response(method, url, answer.status, answer.headers, content)
        raise self._client._make_status_error_from_response(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class EventStream:
    """The events of one opened server-sent event stream, each its JSON object, as the SDK's `AsyncStream`
    reads a Responses stream: `data: [DONE]` ends it (the rest of the body is drained, for 0.1 s at most,
    so the connection can be used again), an event whose JSON has a truthy `error` raises the SDK's
    `APIError` (with its message and body), a timeout or cut connection its `APITimeoutError` or
    `APIConnectionError`, and data that is not JSON the JSON decoder's `ValueError`. Use it as an async
    context manager: leaving it gives the connection back (or closes it, if the body was not all read)."""

    __slots__ = ("_answer", "_decoder", "_done", "_mapping", "_method", "_ready", "_url")

    def __init__(self, answer: aiohttp.ClientResponse, method: str, url: str) -> None:
        self._answer, self._method, self._url = answer, method, url
        self._mapping = _mapped(method, url)
        self._decoder = EventDecoder()
        self._ready: deque[bytes] = deque()
        self._done = False

    @property
    def headers(self) -> Mapping[str, str]:
        return self._answer.headers

    @property
    def buffered(self) -> bool:
        """Whether the next event was read with this one (no wait to reach it), so a reader that keeps
        only the latest sequence number loses nothing by passing over this one."""
        return bool(self._ready) and not self._ready[0].startswith(b"[DONE]")

    def __aiter__(self) -> EventStream:
        return self

    async def json(self) -> Any:
        """The whole body as JSON: a server that ignores `stream` answers with the object itself."""
        try:
            with self._mapping:
                return orjson.loads(await self._answer.read())
        finally:
            self.close()

    async def __anext__(self) -> Any:
        try:
            while not self._ready:
                if self._done:
                    raise StopAsyncIteration
                with self._mapping:
                    chunk = await self._answer.content.readany()
                if not chunk:  # the end of the body
                    raise StopAsyncIteration
                self._ready.extend(self._decoder.feed(chunk))
            data = self._ready.popleft()
            if data.startswith(b"[DONE]"):
                await self._drain()
                raise StopAsyncIteration
            event = orjson.loads(data)
            if isinstance(event, dict) and event.get("error"):
                raise _error_event(event["error"], httpx2.Request(self._method, self._url))
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


def _error_event(error: Any, request: httpx2.Request) -> openai.APIError:
    """The SDK's exception for an event carrying an error, with the SDK's fallback message."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message, request, body=error)


_DRAIN_SECONDS = 0.1
"""The SDK's own bound (openai/_streaming_cleanup.py) on reading the rest of a stream after `[DONE]`."""


class _mapped:
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


def _response(
    method: str, url: str, status: int, headers: Mapping[str, str], content: bytes
) -> httpx2.Response:
    """The answer as the httpx2 response the SDK's exceptions carry (and `translate` reads)."""
    request = httpx2.Request(method, url)
    return httpx2.Response(status, headers=list(headers.items()), content=content, request=request)


def _timeout(timeout: float | openai.Timeout | None) -> aiohttp.ClientTimeout:
    """The SDK client's timeout in aiohttp's terms, part for part: the wait for a pooled connection
    (aiohttp's `connect` covers the pool wait and the connect, like httpx's `pool`), the TCP connect, and
    the longest wait for the next bytes of the answer."""
    if isinstance(timeout, httpx2.Timeout):
        pool = None if timeout.pool is None or timeout.connect is None else timeout.pool + timeout.connect
        return aiohttp.ClientTimeout(
            total=None, connect=pool, sock_connect=timeout.connect, sock_read=timeout.read
        )
    return aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
