"""Fixtures for the emulator's contract suite: the spec (once per session), SDK clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from tests.emulator.contract import Spec
from tests.support.sse import ClientFactory


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
