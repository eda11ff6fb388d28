"""A bare HTTP server on 127.0.0.1 that answers byte for byte as a test scripts it, and the Responses
backend pointed at it: for the cases no real server produces on demand (a proxy's page, a stream cut
mid-line, a server that goes quiet)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

import openai

from rowrelay.tasks.llm.responses_backend import ResponsesBackend, Transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Event], Awaitable[None]]
"""Answers one connection; the event is set when the server stops (what a handler that hangs awaits)."""

ANSWERED = 30.0
"""The client's timeout where the server does answer: no time window a loaded machine could miss."""


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one request whole; returns its head."""
    head, _ = await read_whole(reader)
    return head


async def read_whole(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Read one request whole; returns its head and its body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lengths = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    body = await reader.readexactly(int(lengths[0].split(b":")[1]) if lengths else 0)
    return head, body


async def write_answer(
    writer: asyncio.StreamWriter,
    status: int,
    content_type: str,
    body: bytes,
    headers: Sequence[tuple[str, str]] = (),
) -> None:
    """Answer with `status` and `body` (and `headers`), closing the connection after it."""
    lines = [
        f"HTTP/1.1 {status} Whatever",
        f"content-type: {content_type}",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    writer.write("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
    await writer.drain()


@contextlib.asynccontextmanager
async def raw_server(handle: Handler) -> AsyncIterator[str]:
    """Serve `handle` on a free port; yields the base URL (/v1). Each connection is closed after it."""
    stop = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer, stop)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop.set()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def backend_on(
    url: str,
    transport: Transport,
    *,
    quiet_timeout: float | None = None,
    on_headers: Callable[[Mapping[str, str]], None] | None = None,
    on_taken: Callable[[bool], None] | None = None,
) -> AsyncIterator[ResponsesBackend]:
    """The Responses backend on an SDK client with no retries of its own: one request, one answer.
    `quiet_timeout`: the server will go quiet, and the client must give up after this long."""
    timeout = ANSWERED if quiet_timeout is None else quiet_timeout
    client = openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0, timeout=timeout)
    backend = ResponsesBackend("openai", client, client, on_headers, transport=transport, on_taken=on_taken)
    try:
        yield backend
    finally:
        await backend.aclose()
