"""What the test proxies in front of the emulator share (rewriting_proxy.py, held_cancels.py, relay.py):
a request passed on to the emulator by its path, whatever host it named, with only its key and content
type; a stream's answer passed on as it comes; an aiohttp app served on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

_PASSED_HEADERS = ("authorization", "content-type")


@contextlib.asynccontextmanager
async def forwarded(
    upstream: aiohttp.ClientSession, emulator_url: str, request: web.Request
) -> AsyncIterator[aiohttp.ClientResponse]:
    """`request` sent on to the emulator at `emulator_url` (/v1): its answer, open for the block."""
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() in _PASSED_HEADERS}
    target = emulator_url.removesuffix("/v1") + request.path
    async with upstream.request(
        request.method, target, data=body, params=request.query, headers=headers
    ) as got:
        yield got


def content_type(got: aiohttp.ClientResponse) -> str:
    return got.headers.get("content-type", "")


def is_stream(got: aiohttp.ClientResponse) -> bool:
    return content_type(got).startswith("text/event-stream")


def answer(got: aiohttp.ClientResponse, body: bytes) -> web.Response:
    """A plain answer with `got`'s status and content type, and `body`."""
    return web.Response(status=got.status, body=body, headers={"Content-Type": content_type(got)})


async def stream_opened(request: web.Request, got: aiohttp.ClientResponse) -> web.StreamResponse:
    """The client's stream, begun with `got`'s status and content type, its events for the caller."""
    events = web.StreamResponse(status=got.status, headers={"Content-Type": content_type(got)})
    await events.prepare(request)
    return events


async def stream_passed_on(request: web.Request, got: aiohttp.ClientResponse) -> web.StreamResponse:
    """`got`'s stream passed on to the client chunk by chunk as it comes, to its end."""
    events = await stream_opened(request, got)
    async for chunk in got.content.iter_any():
        await events.write(chunk)
    await events.write_eof()
    return events


def upstream_session() -> aiohttp.ClientSession:
    """The proxy's client to the emulator: no timeout, as a stream may be long."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))


@contextlib.asynccontextmanager
async def served(app: web.Application, **runner_options: Any) -> AsyncIterator[str]:
    """`app` served on a free port of 127.0.0.1 until the block ends: yields its root, `http://HOST:PORT`."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
