"""The emulator behind a relay on a real socket that passes every request on by its path, whatever host it
names, keeping what it was asked: an HTTP proxy (a client sends it `GET http://HOST/v1/...`, naming the
host it wants in `Host`), or a server in front of the emulator that refuses some requests itself (no
`GET /responses/{id}`, as some OpenAI-compatible servers have none, or none streamed), and may cut each
create's stream after its first event, as a flaky network would, so the row's wait must resume it. The
emulator still counts the jobs each row started (`duplicates.jobs_of` on `Relay.emulator_url`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
import orjson
from aiohttp import web

Refusal = Callable[[str, str, Mapping[str, str]], int | None]
"""The status a request (method, path, query) is refused with by the relay itself, or None to pass it on."""


@dataclass
class Relay:
    url: str  # the relay's own /v1 on 127.0.0.1 (its root, as a proxy: `url.removesuffix("/v1")`)
    emulator_url: str  # the emulator behind it (/v1), for its count of jobs
    hosts: list[str] = field(default_factory=list)  # the `Host` of each request, in order
    refused: list[str] = field(default_factory=list)  # "METHOD /path" of each request it refused

    @property
    def proxy(self) -> str:
        return self.url.removesuffix("/v1")


def _passes(method: str, path: str, query: Mapping[str, str]) -> int | None:
    return None


@contextlib.asynccontextmanager
async def relaying(
    emulator_url: str, refusal: Refusal = _passes, *, cut_created_streams: bool = False
) -> AsyncIterator[Relay]:
    """Relay to the emulator at `emulator_url`, refusing what `refusal` says (with a web framework's JSON,
    `{"detail": "Method Not Allowed"}`); streams are passed on as they come, but a create's is cut (its
    connection dropped) after its first event, which names its response, if `cut_created_streams`."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as upstream:
        relay = Relay("", emulator_url)

        async def handle(request: web.Request) -> web.StreamResponse:
            relay.hosts.append(request.headers.get("Host", ""))
            status = refusal(request.method, request.path, request.query)
            if status is not None:
                relay.refused.append(f"{request.method} {request.path}")
                said = orjson.dumps({"detail": _REASONS.get(status, "Refused")})
                return web.Response(status=status, body=said, content_type="application/json")
            body = await request.read()
            headers = {
                k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")
            }
            target = emulator_url.removesuffix("/v1") + request.path
            async with upstream.request(
                request.method, target, data=body, params=request.query, headers=headers
            ) as got:
                kind = got.headers.get("content-type", "")
                if not kind.startswith("text/event-stream"):
                    return web.Response(
                        status=got.status, body=await got.read(), headers={"Content-Type": kind}
                    )
                events = web.StreamResponse(status=got.status, headers={"Content-Type": kind})
                await events.prepare(request)
                cut = cut_created_streams and request.method == "POST"
                passed = b""
                async for chunk in got.content.iter_any():
                    if cut and b"\n\n" in (passed := passed + chunk):
                        await events.write(passed[: passed.index(b"\n\n") + 2])
                        assert request.transport is not None
                        request.transport.abort()  # mid-body: the client reads a dropped connection
                        return events
                    if not cut:
                        await events.write(chunk)
                await events.write_eof()
                return events

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        relay.url = f"http://127.0.0.1:{port}/v1"
        try:
            yield relay
        finally:
            await runner.cleanup()


_REASONS = {405: "Method Not Allowed", 501: "Not Implemented"}
