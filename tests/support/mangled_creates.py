"""The emulator behind a proxy that answers chosen creates with a success that is not the API's answer: a
body cut in half on its way (a trial's proxy did this to one create's 200 JSON), JSON of another kind (an
upstream's `{"error": ...}` sent with a 200), a sign-in page. Every create still reaches the emulator,
which makes its job and counts it for its row (`duplicates.jobs_of` on `Mangler.emulator_url`); only the
answer the client reads is replaced, and chosen creates' answers may be held until the test lets them go.
Everything else is passed on as it comes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.canned import Canned
from tests.support.forwarding import answer, forwarded, is_stream, served, stream_passed_on, upstream_session

_CREATES = ("/v1/responses", "/v1/chat/completions")

Mangle = Callable[[int, bytes], Canned | None]
"""What the proxy answers the create of this number (0 for the first it passed on) with, given the body
the emulator answered; None passes the emulator's answer on."""


def cut_in_half(body: bytes) -> Canned:
    """The answer's first half, labelled JSON: what a proxy that loses the rest of a body sends."""
    return Canned(body[: len(body) // 2])


UPSTREAM_OVERLOADED = Canned({"error": {"message": "upstream overloaded", "type": "server_error"}})
"""A gateway's way with an overloaded upstream: its error, in a success."""
SIGN_IN_PAGE = Canned(b"<html><body><h1>Sign in</h1></body></html>", content_type="text/html")


@dataclass
class Mangler:
    url: str  # the proxy's /v1
    emulator_url: str  # the emulator behind it (/v1), for its count of jobs
    mangled: list[int] = field(default_factory=list)  # the numbers of the creates whose answer it replaced
    creates: int = 0  # creates passed on
    let_go: asyncio.Event = field(default_factory=asyncio.Event)  # the held creates' answers may go


@contextlib.asynccontextmanager
async def mangling(
    emulator_url: str, mangle: Mangle, held: frozenset[int] = frozenset()
) -> AsyncIterator[Mangler]:
    """Serve the emulator at `emulator_url` (/v1), each create's answer as `mangle` says, those `held` (by
    number) once `Mangler.let_go` is set; yields the proxy."""
    async with upstream_session() as upstream:
        mangler: Mangler

        async def handle(request: web.Request) -> web.StreamResponse:
            creating = request.method == "POST" and request.path in _CREATES
            async with forwarded(upstream, emulator_url, request) as got:
                if not creating:
                    return (
                        await stream_passed_on(request, got)
                        if is_stream(got)
                        else answer(got, await got.read())
                    )
                number = mangler.creates
                mangler.creates += 1
                body = await got.read()  # a streamed create's events, to its end: the job is made either way
                if number in held:
                    await mangler.let_go.wait()
                replaced = mangle(number, body) if got.status == 200 else None
                if replaced is None:
                    if is_stream(got):  # passed on whole: the client reads the same events
                        events = web.StreamResponse(
                            status=got.status, headers={"Content-Type": "text/event-stream"}
                        )
                        await events.prepare(request)
                        await events.write(body)
                        await events.write_eof()
                        return events
                    return answer(got, body)
                mangler.mangled.append(number)
                return web.Response(
                    status=replaced.status,
                    body=replaced.encoded(),
                    headers={"Content-Type": replaced.content_type},
                )

        app = web.Application()
        app.router.add_route("*", "/v1/{tail:.*}", handle)
        async with served(app) as root:
            mangler = Mangler(f"{root}/v1", emulator_url)
            yield mangler
