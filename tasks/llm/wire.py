"""The hot path's transport on aiohttp and orjson: JSON calls (background creates, polls and cancels) and
server-sent event streams (streamed creates and resumes).

Through the SDK, each of these calls cost about 2 ms of CPU (building an httpx2 request, validating the
answer into pydantic models), which capped a run on one core near 250 calls/s; here they cost about a
tenth of that (tests/benchmarks/bench_throughput.py). A stream's events cost the SDK about 0.5 ms each
(a pydantic model per event, an SSE decoder per line); here each is at most one `orjson.loads`
(event_stream.py reads the stream, sse.py decodes it). The SDK stays the source of truth for all but
the bytes on the wire:
- the URL, headers and query come from its client (`base_url`, `auth_headers`, `default_headers`,
  `default_query`): OpenAI's bearer key, Azure's `api-key` header and `api-version` query alike (read
  once: client.py gives every client a fixed key, never a token provider that would change them);
- an error answer becomes the SDK's own exception, by the SDK's own status-to-class mapping, and a
  timeout or cut connection the SDK's `APITimeoutError` or `APIConnectionError`, so `sdk_errors.translate`
  decides what each means exactly as it does for the SDK's calls; a stream's `error` event becomes
  the SDK's `APIError`, as its `AsyncStream` raises it;
- the proxy is the one the SDK's transport would take from the environment (proxies.py);
- retries are the SDK's decisions (`_should_retry`, `_calculate_retry_timeout`), taken only when the
  caller allows them: never for a create (see client.py), up to the client's `max_retries` for reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import httpx2
import openai
import orjson
from openai._models import FinalRequestOptions

from rowrelay.tasks.llm.answers import json_object, route
from rowrelay.tasks.llm.event_stream import EventStream, as_httpx, mapped
from rowrelay.tasks.llm.proxies import proxy_for

Json = dict[str, Any]
_T = TypeVar("_T")


class Wire:
    """One aiohttp session (made inside the running loop, on first use) speaking for one SDK client."""

    def __init__(self, client: openai.AsyncOpenAI, *, connections: int) -> None:
        self._client = client
        self._base = route(client.base_url, "")
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
        self._proxy = proxy_for(self._base)  # one server per wire: its proxy is read once
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # A pool that keeps every connection it opens: background calls are short and many.
            connector = aiohttp.TCPConnector(limit=self._connections, limit_per_host=0)
            # Not `trust_env`: it reads the proxy variables in a thread on every request, and ~/.netrc,
            # which httpx does not; `proxies.proxy_for` decides as the SDK's transport does.
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=connector,
                timeout=self._timeout,
                json_serialize=_dumps,
                proxy=self._proxy,
            )
        return self._session

    async def call(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        *,
        params: Mapping[str, str] | None = None,
        retries: int = 0,
    ) -> tuple[Json, Mapping[str, str]]:
        """The JSON answer to one call and its headers; up to `retries` more tries where the SDK would
        retry. Raises the SDK's exceptions (`openai.OpenAIError`), as its own calls would."""
        url = self._base + path
        return await self._retrying(method, path, retries, lambda: self._once(method, url, body, params))

    async def stream(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        *,
        params: Mapping[str, str] | None = None,
        retries: int = 0,
        passable: Callable[[bytes], bool] | None = None,
    ) -> EventStream:
        """A server-sent event stream, opened: its status was a success (else the SDK's exception was
        raised, after up to `retries` more tries where the SDK would retry, as it retries opening a
        stream). Its events are read as they come; a failure while reading is never retried."""
        url = self._base + path
        answer = await self._retrying(method, path, retries, lambda: self._open(method, url, body, params))
        return EventStream(answer, method, url, passable)

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

    async def _once(
        self, method: str, url: str, body: Json | None, params: Mapping[str, str] | None
    ) -> tuple[Json, Mapping[str, str]]:
        # The body is read inside the try that may be retried, as the SDK reads a JSON answer's.
        answer = await self._open(method, url, body, params)
        with mapped(method, url):
            try:
                content = await answer.read()
            finally:
                answer.release()
        # Not one JSON object (a web page, events from a server that streams every answer): the SDK's
        # exception, as `answers.parsed` raises it on the SDK's transport.
        return json_object(content, lambda: as_httpx(method, url, answer, content)), answer.headers

    async def _open(
        self, method: str, url: str, body: Json | None, params: Mapping[str, str] | None
    ) -> aiohttp.ClientResponse:
        """The answer with its body unread, if its status is a success; else the SDK's exception."""
        data = None if body is None else orjson.dumps(body)
        query = {**self._query, **params} if params else self._query or None
        token = None if self._token is None else await self._token()
        headers = None if token is None else {"Authorization": f"Bearer {token}"}
        with mapped(method, url):
            answer = await self._http().request(method, url, data=data, params=query, headers=headers)
            if 200 <= answer.status < 300:
                return answer
            try:
                content = await answer.read()
            finally:
                answer.release()
        response = as_httpx(method, url, answer, content)
        raise self._client._make_status_error_from_response(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
