"""An OpenAI-compatible server with the quirks of some real ones, on a real socket: the emulator behind a
proxy that rewrites what it answers, so the emulator still counts the jobs each row started
(`duplicates.jobs_of` on `Quirky.emulator_url`). Quirks, any together:
- `unnumbered`: stream events carry no `sequence_number`;
- `keep_alives`: after each event, `event: ping` with `data: {}`, and `event: keepalive` with no data;
- `ignores_stream`: a streamed create or resume is answered with the response object, labelled
  `content_type` (empty: a `content-type` header with nothing in it, as aiohttp sends for one set to
  nothing; it labels a body with none `application/octet-stream`), as a server that ignores `stream`;
- `streams_always`: a create that asks for no stream is sent on asking for one, and answered with its
  events, as a proxy that streams every answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web

from rowrelay.tasks.llm.sse import EventDecoder


@dataclass(frozen=True)
class Quirks:
    unnumbered: bool = False
    keep_alives: bool = False
    ignores_stream: bool = False
    content_type: str = "application/json"
    streams_always: bool = False


@dataclass(frozen=True)
class Quirky:
    url: str  # where the run is pointed (/v1)
    emulator_url: str  # the emulator behind it (/v1), for its count of jobs


KEEP_ALIVES = b"event: ping\ndata: {}\n\nevent: keepalive\n\n"


@contextlib.asynccontextmanager
async def quirky(emulator_url: str, quirks: Quirks) -> AsyncIterator[Quirky]:
    """Serve the emulator at `emulator_url` with `quirks`, on a free port of 127.0.0.1."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as upstream:

        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            query = dict(request.query)
            asked = orjson.loads(body) if body else {}
            streamed = query.get("stream") == "true" or (isinstance(asked, dict) and asked.get("stream"))
            if quirks.streams_always and isinstance(asked, dict) and "model" in asked and not streamed:
                body = orjson.dumps({**asked, "stream": True})
            if quirks.ignores_stream and streamed:
                query.pop("stream", None)
                query.pop("starting_after", None)
                if isinstance(asked, dict) and asked.pop("stream", None) is not None:
                    body = orjson.dumps(asked)
            headers = {
                k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")
            }
            target = emulator_url.removesuffix("/v1") + request.path
            async with upstream.request(
                request.method, target, data=body, params=query, headers=headers
            ) as got:
                kind = got.headers.get("content-type", "")
                if not kind.startswith("text/event-stream"):
                    content = await got.read()
                    label = quirks.content_type if quirks.ignores_stream and streamed else kind
                    return web.Response(status=got.status, body=content, headers={"Content-Type": label})
                events = web.StreamResponse(status=got.status, headers={"Content-Type": kind})
                await events.prepare(request)
                decoder = EventDecoder()
                # A stream the emulator cuts raises here, and the connection to the client is cut too.
                async for chunk in got.content.iter_any():
                    for name, data in decoder.feed_named(chunk):
                        await events.write(_rewritten(name, data, quirks))
                await events.write_eof()
                return events

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield Quirky(f"http://127.0.0.1:{port}/v1", emulator_url)
        finally:
            await runner.cleanup()


def _rewritten(name: bytes, data: bytes, quirks: Quirks) -> bytes:
    """One event as the quirky server sends it."""
    if quirks.unnumbered and not data.startswith(b"[DONE]"):
        event = orjson.loads(data)
        event.pop("sequence_number", None)
        data = orjson.dumps(event)
    named = b"event: " + name + b"\n" if name else b""
    return named + b"data: " + data + b"\n\n" + (KEEP_ALIVES if quirks.keep_alives else b"")
