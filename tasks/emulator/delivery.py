"""How a started job's answer reaches its client, or does not: a gateway's error page, a create that
never answers, a client that left while the job was starting. Each settles the job's `answered`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from rowrelay.tasks.emulator.jobs import Job
from rowrelay.tasks.emulator.service import Emulator

# nginx's wording; OpenAI's edge sends pages of this shape (HTML, not the API's JSON envelope).
_GATEWAY_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}
CLIENT_GONE = 499
"""nginx's "client closed request": what /emulator/stats counts for a create whose client left first."""


class GatewayResponse(Response):
    """A reply that did not come from the API (a gateway's page, or nothing to a departed client): the
    app adds none of the API's headers (x-request-id, x-ratelimit-*) to it."""


def gateway_page(status: int) -> GatewayResponse:
    title = _GATEWAY_TITLES[status]
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return GatewayResponse(page, status, media_type="text/html")


def client_gone(emu: Emulator, job: Job) -> GatewayResponse:
    """The client left before its answer: the job runs on, and nobody hears of it."""
    emu.settle(job, answered=False)
    return GatewayResponse(b"", CLIENT_GONE)


async def until_disconnected(request: Request) -> None:
    """Wait for the client to leave. The body has been read, so the next ASGI message can only be the
    disconnect: awaiting it needs no polling and leaves no task behind."""
    while (await request.receive())["type"] != "http.disconnect":
        continue


async def left_within(request: Request, seconds: float) -> bool:
    """Wait `seconds`, or less if the client leaves first; True if it left. A create delay ends early
    for a client that is gone (killed while waiting, timed out): there is nobody to answer."""
    try:
        async with asyncio.timeout(seconds):
            await until_disconnected(request)
    except TimeoutError:
        return False
    return True


async def lose_answer(request: Request, emu: Emulator, job: Job) -> Response | None:
    """Answer as the job's gateway or hang fault says; None when neither applies."""
    fault = job.fault
    if fault is None or fault.kind not in ("gateway", "hang"):
        return None
    emu.settle(job, answered=False)
    if fault.kind == "gateway":
        return gateway_page(fault.status)
    await until_disconnected(request)
    return client_gone(emu, job)


def left_already(request: Request) -> bool:
    """Whether the client has left, without waiting: the next ASGI message is taken if it is there now.

    starlette's `Request.is_disconnected` does the same inside an anyio cancel scope, whose cancel
    formats the task's repr: a twentieth of the CPU of a streamed create. Stepping the `receive`
    coroutine once and closing it if it would wait is what that scope amounts to (closing it drops
    the waiter it registered)."""
    receiving = cast(Coroutine[Any, Any, Message], request.receive())  # uvicorn's is a coroutine
    try:
        receiving.send(None)
    except StopIteration as taken:
        return bool(taken.value["type"] == "http.disconnect")
    receiving.close()
    return False


async def deliver(request: Request, emu: Emulator, job: Job, answer: Response) -> Response:
    """Hand the answer over if its client is still there (a killed client's create is not answered)."""
    if left_already(request):
        return client_gone(emu, job)
    emu.settle(job, answered=True)
    return answer
