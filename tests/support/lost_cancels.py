"""The emulator behind a proxy that passes every request on, but answers each cancel 502 once the emulator
has carried it out: a cancel that reached the server (the response is cancelled there) and whose answer
was lost, every retry's too. The emulator still counts the jobs each row started (`duplicates.jobs_of`
on the emulator's own url)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web


@contextlib.asynccontextmanager
async def losing_cancel_answers(emulator_url: str) -> AsyncIterator[str]:
    """Serve the emulator at `emulator_url` (/v1), each cancel carried out and answered 502; yields /v1."""
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
                answer = await got.read()
                if request.path.endswith("/cancel"):
                    return web.Response(status=502, text="Bad Gateway")  # carried out; its answer lost
                kind = got.headers.get("content-type", "application/json")
                return web.Response(status=got.status, body=answer, headers={"Content-Type": kind})

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", handle)
        runner = web.AppRunner(app, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            await runner.cleanup()
