"""Raw server-sent events from the emulator with plain httpx, and the type of the SDK client factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
from openai import AsyncOpenAI

ClientFactory = Callable[..., AsyncOpenAI]
"""The `make_client` fixture (tests/emulator/conftest.py): an emulator in, a closed-after-test client out."""


def parse_sse(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """Split a raw SSE body into (event line, data) pairs, checking the framing on the way."""
    frames: list[tuple[str | None, dict[str, Any]]] = []
    for block in raw.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
        data = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
        assert len(data) == 1, f"one data line per frame expected: {block!r}"
        assert len(names) <= 1, block
        frames.append((names[0] if names else None, orjson.loads(data[0])))
    return frames


async def raw_sse(
    url: str, method: str, path: str, **kwargs: Any
) -> tuple[httpx.Response, list[tuple[str | None, dict[str, Any]]]]:
    """Make one request with plain httpx and read the whole SSE body."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=20) as http,
        http.stream(method, path, **kwargs) as response,
    ):
        body = await response.aread()
    return response, parse_sse(body)
