"""The emulator behind a relay on a real socket that passes every request on by its path, whatever host it
names, keeping what it was asked: an HTTP proxy (a client sends it `GET http://HOST/v1/...`, naming the
host it wants in `Host`), or a server in front of the emulator that refuses some requests itself (no
`GET /responses/{id}`, as some OpenAI-compatible servers have none, or none streamed), and may cut each
create's stream after its first event, as a flaky network would, so the row's wait must resume it, or
before it (`Cut`: a gateway that cuts or buffers streams, so the create's id never comes). The emulator
still counts the jobs each row started (`duplicates.jobs_of` on `Relay.emulator_url`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
import orjson
from aiohttp import web

from tests.support.forwarding import (
    answer,
    forwarded,
    is_stream,
    served,
    stream_opened,
    stream_passed_on,
    upstream_session,
)


@dataclass(frozen=True)
class Cut:
    """Create streams cut before their first event is whole, as a gateway that limits or buffers streams
    does: every `every`th create's stream is passed on for its first `at` bytes (the emulator's first
    event, `response.created`, is over 600), then its connection dropped, or (`end`) its body ended."""

    at: int = 600
    every: int = 1
    end: bool = False


Refusal = Callable[[str, str, Mapping[str, str]], int | None]
"""The status a request (method, path, query) is refused with by the relay itself, or None to pass it on."""


@dataclass
class Relay:
    url: str  # the relay's own /v1 on 127.0.0.1 (its root, as a proxy: `url.removesuffix("/v1")`)
    emulator_url: str  # the emulator behind it (/v1), for its count of jobs
    hosts: list[str] = field(default_factory=list)  # the `Host` of each request, in order
    refused: list[str] = field(default_factory=list)  # "METHOD /path" of each request it refused
    streamed: list[bool] = field(default_factory=list)  # whether each create asked for a stream, in order
    create_streams: int = 0  # the creates answered with a stream
    cuts: int = 0  # those cut before their first event (`Cut`)

    @property
    def proxy(self) -> str:
        return self.url.removesuffix("/v1")


def _passes(method: str, path: str, query: Mapping[str, str]) -> int | None:
    return None


@contextlib.asynccontextmanager
async def relaying(
    emulator_url: str,
    refusal: Refusal = _passes,
    *,
    cut_created_streams: bool = False,
    cut_before_named: Cut | None = None,
) -> AsyncIterator[Relay]:
    """Relay to the emulator at `emulator_url`, refusing what `refusal` says (with a web framework's JSON,
    `{"detail": "Method Not Allowed"}`); streams are passed on as they come, but a create's is cut (its
    connection dropped) after its first event, which names its response, if `cut_created_streams`, or
    before that event is whole as `cut_before_named` says."""
    async with upstream_session() as upstream:
        relay = Relay("", emulator_url)

        async def handle(request: web.Request) -> web.StreamResponse:
            relay.hosts.append(request.headers.get("Host", ""))
            status = refusal(request.method, request.path, request.query)
            if status is not None:
                relay.refused.append(f"{request.method} {request.path}")
                said = orjson.dumps({"detail": _REASONS.get(status, "Refused")})
                return web.Response(status=status, body=said, content_type="application/json")
            if request.method == "POST" and request.path.endswith("/responses"):
                relay.streamed.append(_asks_stream(await request.read()))
            async with forwarded(upstream, emulator_url, request) as got:
                if not is_stream(got):
                    return answer(got, await got.read())
                if request.method != "POST":
                    return await stream_passed_on(request, got)
                relay.create_streams += 1
                cut = cut_before_named
                if cut is not None and relay.create_streams % cut.every == 0:
                    relay.cuts += 1
                    return await _cut_at(request, got, cut)
                if not cut_created_streams:
                    return await stream_passed_on(request, got)
                return await _cut_after_first_event(request, got)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        async with served(app) as root:
            relay.url = f"{root}/v1"
            yield relay


async def _cut_after_first_event(request: web.Request, got: aiohttp.ClientResponse) -> web.StreamResponse:
    """The stream's first event passed on, then its connection dropped mid-body, as a flaky network would."""
    events = await stream_opened(request, got)
    passed = b""
    async for chunk in got.content.iter_any():
        if b"\n\n" in (passed := passed + chunk):
            await events.write(passed[: passed.index(b"\n\n") + 2])
            assert request.transport is not None
            request.transport.abort()  # mid-body: the client reads a dropped connection
            return events
    await events.write_eof()  # ended before a whole event: passed on as it came (nothing)
    return events


def _asks_stream(body: bytes) -> bool:
    try:
        asked = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(asked, dict) and asked.get("stream") is True


async def _cut_at(request: web.Request, got: aiohttp.ClientResponse, cut: Cut) -> web.StreamResponse:
    """The stream's first `cut.at` bytes passed on, then its connection dropped, or its body ended."""
    events = await stream_opened(request, got)
    passed = b""
    async for chunk in got.content.iter_any():
        if len(passed := passed + chunk) >= cut.at:
            break
    await events.write(passed[: cut.at])
    if cut.end:
        await events.write_eof()
        return events
    assert request.transport is not None
    request.transport.abort()  # mid-body: the client reads a dropped connection
    return events


_REASONS = {405: "Method Not Allowed", 501: "Not Implemented"}
