"""A server on a real socket that answers every request as a test scripts it: an error with the API's JSON
envelope (or a proxy's HTML page), no answer at all, or a hang-up; for the error cases no real server
produces on demand."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal

import orjson

from tests.support.raw_http import raw_server, read_request, write_answer

MESSAGE = "the server's own words about it"
"""Every scripted error's `message`: the translated error must carry it."""


@dataclass(frozen=True)
class Reply:
    """What the server does with a request: answer it, never answer (`hang`), or close (`hang_up`)."""

    kind: Literal["answer", "hang", "hang_up"] = "answer"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    param: str | None = None
    code: str | None = None  # the error body's `code` and `type`
    type: str = "test_error"
    page: bool = False  # answer with a proxy's HTML page instead of the API's JSON error envelope


def error(
    status: int,
    *headers: tuple[str, str],
    param: str | None = None,
    code: str | None = None,
    error_type: str = "test_error",
) -> Reply:
    return Reply("answer", status, headers, param, code, error_type)


def proxy_page(status: int) -> Reply:
    return Reply("answer", status, page=True)


def serving(reply: Reply, heads: list[bytes] | None = None) -> contextlib.AbstractAsyncContextManager[str]:
    """A server that reads each request whole (keeping its head in `heads`), then does what `reply`
    says; yields /v1."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        head = await read_request(reader)
        if heads is not None:
            heads.append(head)
        if reply.kind == "hang":
            await stop.wait()
        elif reply.kind == "answer":
            fields = {"message": MESSAGE, "type": reply.type, "param": reply.param, "code": reply.code}
            page = f"<html><body><h1>{reply.status} from the proxy</h1></body></html>"
            body = page.encode() if reply.page else orjson.dumps({"error": fields})
            kind = "text/html" if reply.page else "application/json"
            await write_answer(writer, reply.status, kind, body, reply.headers)

    return raw_server(handle)
