"""The emulator behind a proxy that passes every request on, but answers each cancel 502 once the emulator
has carried it out: a cancel that reached the server (the response is cancelled there) and whose answer
was lost, every retry's too. The emulator still counts the jobs each row started (`duplicates.jobs_of`
on the emulator's own url)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from tests.support.forwarding import answer, forwarded, served, upstream_session


@contextlib.asynccontextmanager
async def losing_cancel_answers(emulator_url: str) -> AsyncIterator[str]:
    """Serve the emulator at `emulator_url` (/v1), each cancel carried out and answered 502; yields /v1."""
    async with upstream_session() as upstream:

        async def handle(request: web.Request) -> web.StreamResponse:
            async with forwarded(upstream, emulator_url, request) as got:
                body = await got.read()
                if request.path.endswith("/cancel"):
                    return web.Response(status=502, text="Bad Gateway")  # carried out; its answer lost
                return answer(got, body)

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", handle)
        async with served(app, shutdown_timeout=5.0) as root:
            yield f"{root}/v1"
