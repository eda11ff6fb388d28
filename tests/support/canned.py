"""A server on a real socket whose every answer a test writes from the request it got: the quirks of some
OpenAI-compatible servers (a chat answer with no choice, a tool call nobody offered, a stream nobody asked
for, a refusal whose body has no `message`) that neither OpenAI nor the emulator gives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tests.support.raw_http import raw_server, read_whole, write_answer


@dataclass(frozen=True)
class Canned:
    """One answer: its status, content type and body (a JSON-able object, or bytes as they are)."""

    body: object
    status: int = 200
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else orjson.dumps(self.body)


Answer = Callable[[dict[str, Any]], Canned]
"""What the server answers a request's JSON body with."""


def canned_server(
    answer: Answer, bodies: list[dict[str, Any]] | None = None
) -> contextlib.AbstractAsyncContextManager[str]:
    """A server answering each request (keeping its JSON body in `bodies`) with `answer(body)`; yields /v1."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        _, raw = await read_whole(reader)
        body = orjson.loads(raw) if raw else {}
        if bodies is not None:
            bodies.append(body)
        canned = answer(body)
        await write_answer(writer, canned.status, canned.content_type, canned.encoded())

    return raw_server(handle)


def chat_completion(message: dict[str, Any] | None, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat completion of one choice holding `message` (none when None: `choices: []`), with usage."""
    choices = [] if message is None else [{"index": 0, "message": message, "finish_reason": finish_reason}]
    return {
        "id": "chatcmpl-canned",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4.1-mini",
        "choices": choices,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def prompt_of(body: dict[str, Any]) -> str:
    """The user's message of a chat completion's request: the row's prompt."""
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else ""
