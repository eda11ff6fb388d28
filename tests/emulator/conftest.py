"""Fixtures for the emulator's contract suite: the spec (once per session), SDK clients, raw SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from tests.emulator.contract import Spec

ClientFactory = Callable[..., AsyncOpenAI]


@pytest.fixture(scope="session")
def spec() -> Spec:
    """The official OpenAPI spec as validators (parsing it takes about two seconds: once only)."""
    return Spec()


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Build `AsyncOpenAI` clients (no retries unless asked) and close them all after the test."""
    clients: list[AsyncOpenAI] = []

    def build(emu: RunningEmulator, *, api_key: str = "sk-local", max_retries: int = 0) -> AsyncOpenAI:
        client = AsyncOpenAI(base_url=emu.url, api_key=api_key, max_retries=max_retries, timeout=20)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.close()


@pytest.fixture
def client(emulator: RunningEmulator, make_client: ClientFactory) -> AsyncOpenAI:
    return make_client(emulator)


@pytest.fixture
def slow_emulator() -> Iterator[RunningEmulator]:
    """Each response works 0.3 s (queued for 0.03 s of it): long enough to watch it move."""
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"))) as running:
        yield running


@pytest.fixture
def slow_client(slow_emulator: RunningEmulator, make_client: ClientFactory) -> AsyncOpenAI:
    return make_client(slow_emulator)


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
