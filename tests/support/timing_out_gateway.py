"""A gateway in front of the emulator that gives up on each create at its own timeout, as nginx does at
its proxy_read_timeout (60 s by default): the create is passed on, and once the emulator has started its
job the gateway answers its own timeout page (504, Cloudflare's 524, LiteLLM's 408 in the API's error
envelope; or any other status, `PAGES`) and leaves the emulator's answer unread. Every other request is
passed on as it comes. The emulator still counts the jobs each create started (`/emulator/jobs`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web

from rowrelay.tasks.emulator.jobs import JobKind, prompt_of
from tests.support.forwarding import answer, forwarded, served, upstream_session
from tests.support.inspection import eventually

NGINX_504 = (
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway "
    "Time-out</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)
NGINX_502 = NGINX_504.replace("504 Gateway Time-out", "502 Bad Gateway")
CLOUDFLARE_524 = (
    "<!DOCTYPE html>\n<html><head><title>127.0.0.1 | 524: A timeout occurred</title></head><body><h1>A "
    "timeout occurred</h1><span>Error code 524</span></body></html>"
)
LITELLM_408 = orjson.dumps(
    {
        "error": {
            "message": "litellm.Timeout: APITimeoutError - Request timed out. Error_str: Request timed out.",
            "type": None,
            "param": None,
            "code": "408",
        }
    }
).decode()
PAGES = {
    504: ("text/html", NGINX_504),
    524: ("text/html", CLOUDFLARE_524),
    408: ("application/json", LITELLM_408),
    502: ("text/html", NGINX_502),
}


@dataclass
class Gateway:
    url: str  # the gateway's /v1 on 127.0.0.1
    cut: int = 0  # creates it answered with its page, each after the emulator had started its job


async def _started(upstream: aiohttp.ClientSession, emulator_url: str, prompt: str) -> int:
    """The jobs the emulator has started for this prompt, creates of either kind."""
    root = emulator_url.removesuffix("/v1")
    async with upstream.get(f"{root}/emulator/jobs") as got:
        listing = (await got.json())["data"]
    return sum(job["prompt"] == prompt for job in listing)


@contextlib.asynccontextmanager
async def timing_out(
    emulator_url: str, status: int = 504, route: str = "/chat/completions"
) -> AsyncIterator[Gateway]:
    """A gateway to the emulator at `emulator_url` (/v1) answering every `POST .../{route}` with its
    `status` page once the emulator has started the create's job."""
    kind: JobKind = "chat.completion" if route.endswith("/chat/completions") else "response"
    content_type, page = PAGES[status]
    async with upstream_session() as upstream:
        gateway = Gateway("")

        async def passed_on(request: web.Request) -> None:
            async with forwarded(upstream, emulator_url, request) as got:
                await got.read()

        async def handle(request: web.Request) -> web.StreamResponse:
            if request.method != "POST" or not request.path.endswith(route):
                async with forwarded(upstream, emulator_url, request) as got:
                    return answer(got, await got.read())
            prompt = prompt_of(kind, orjson.loads(await request.read()))
            before = await _started(upstream, emulator_url, prompt)
            upstream_call = asyncio.ensure_future(passed_on(request))
            await eventually(  # the create is on its way: its job starts (or the emulator answered)
                lambda: _started(upstream, emulator_url, prompt),
                lambda started: started > before or upstream_call.done(),
            )
            upstream_call.cancel()  # the gateway leaves the server's answer behind, as at its timeout
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await upstream_call
            gateway.cut += 1
            return web.Response(status=status, text=page, content_type=content_type)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        async with served(app) as root:
            gateway.url = f"{root}/v1"
            yield gateway
