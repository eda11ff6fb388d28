"""The emulator behind a proxy that passes every request on, but holds back the answer to each cancel once
the emulator has carried it out: a cancel that reached the server (the response is cancelled there) and
whose answer has not come back yet, the moment a second Ctrl-C stops a run's cancelling. The emulator
still counts the jobs each row started (`duplicates.jobs_of` on the emulator's own url)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web


@dataclass
class HeldCancels:
    """Where the proxy answers (`url`, ending in /v1), and the response ids whose cancel the emulator
    carried out while their answer is held (`carried`)."""

    url: str = ""
    carried: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def holding_cancel_answers(emulator_url: str) -> AsyncIterator[HeldCancels]:
    """Serve the emulator at `emulator_url` (/v1), every cancel's answer held until the proxy closes."""
    held = HeldCancels()
    released = asyncio.Event()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as upstream:

        async def handle(request: web.Request) -> web.StreamResponse:
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
                    answer = await got.read()
                    if request.path.endswith("/cancel"):
                        held.carried.append(request.path.split("/")[-2])
                        await released.wait()  # cancelled on the server; its answer not on its way yet
                    return web.Response(status=got.status, body=answer, headers={"Content-Type": kind})
                events = web.StreamResponse(status=got.status, headers={"Content-Type": kind})
                await events.prepare(request)
                async for chunk in got.content.iter_any():
                    await events.write(chunk)
                await events.write_eof()
                return events

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", handle)
        # A client gone (a stopped run's streams) ends its handler at once, not at the proxy's close.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        held.url = f"http://127.0.0.1:{port}/v1"
        try:
            yield held
        finally:
            released.set()  # the held answers go (to clients long gone) so the proxy's handlers end
            await runner.cleanup()
