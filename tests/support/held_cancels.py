"""The emulator behind a proxy that passes every request on, but holds back the answer to each cancel once
the emulator has carried it out: a cancel that reached the server (the response is cancelled there) and
whose answer has not come back yet, the moment a second Ctrl-C stops a run's cancelling. The emulator
still counts the jobs each row started (`duplicates.jobs_of` on the emulator's own url)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.forwarding import answer, forwarded, is_stream, served, stream_passed_on, upstream_session


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
    async with upstream_session() as upstream:

        async def handle(request: web.Request) -> web.StreamResponse:
            async with forwarded(upstream, emulator_url, request) as got:
                if is_stream(got):
                    return await stream_passed_on(request, got)
                body = await got.read()
                if request.path.endswith("/cancel"):
                    held.carried.append(request.path.split("/")[-2])
                    await released.wait()  # cancelled on the server; its answer not on its way yet
                return answer(got, body)

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", handle)
        # A client gone (a stopped run's streams) ends its handler at once, not at the proxy's close.
        async with served(app, handler_cancellation=True, shutdown_timeout=5.0) as root:
            held.url = f"{root}/v1"
            try:
                yield held
            finally:
                released.set()  # the held answers go (to clients long gone) so the proxy's handlers end
