"""The emulator behind a proxy that rewrites every response object it answers (a create's, a poll's, a
cancel's, and the `response` of each stream event), on a real socket: what some OpenAI-compatible
servers answer and the emulator never does (a negative or string usage, a failed response quoting the
request's key). The emulator still counts the jobs each row started (`duplicates.jobs_of` on
`emulator_url`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from rowrelay.tasks.llm.sse import EventDecoder
from tests.support.forwarding import answer, forwarded, is_stream, served, stream_opened, upstream_session

Rewrite = Callable[[dict[str, Any], Mapping[str, str]], dict[str, Any]]
"""A response object as the proxy answers it, from the emulator's and the request's headers."""


@contextlib.asynccontextmanager
async def rewriting(emulator_url: str, rewrite: Rewrite) -> AsyncIterator[str]:
    """Serve the emulator at `emulator_url` (/v1) with its response objects rewritten; yields /v1."""
    async with upstream_session() as upstream:

        async def handle(request: web.Request) -> web.StreamResponse:
            async with forwarded(upstream, emulator_url, request) as got:
                if not is_stream(got):
                    return answer(got, _rewritten(await got.read(), rewrite, request.headers))
                events = await stream_opened(request, got)
                decoder = EventDecoder()
                async for chunk in got.content.iter_any():
                    for name, data in decoder.feed_named(chunk):
                        data = _rewritten(data, rewrite, request.headers)
                        await events.write(b"event: " + name + b"\ndata: " + data + b"\n\n")
                await events.write_eof()
                return events

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", handle)
        app.router.add_route("*", "/openai/{tail:.*}", handle)  # Azure's routes: the root as its endpoint
        async with served(app) as root:
            yield f"{root}/v1"


def _rewritten(data: bytes, rewrite: Rewrite, headers: Mapping[str, str]) -> bytes:
    """A JSON answer or event with its response object rewritten; anything else as it was."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data
    if isinstance(value, dict) and value.get("object") == "response":
        return orjson.dumps(rewrite(value, headers))
    if isinstance(value, dict) and isinstance(value.get("response"), dict):
        return orjson.dumps({**value, "response": rewrite(value["response"], headers)})
    return data
