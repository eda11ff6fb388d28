"""The current store policy (newer versions of OpenAI's background guide): a background response created
without an explicit `store: true` is kept for about 10 minutes after it ends, then deleted (404); one
created with `store: true` is kept for the retention period. The legacy policy keeps both."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from tests.support.clock import ManualClock
from tests.support.sse import ClientFactory

WORK = 30.0
"""Seconds each response works before it ends."""


async def _held_after(make_client: ClientFactory, policy: str, seconds: float, **create: Any) -> bool:
    """Whether a background response created with `create` is still held `seconds` after it ended."""
    clock = ManualClock()
    config = EmulatorConfig(store_policy=policy, latency=LatencySpec.parse(f"fixed:{WORK}"))  # type: ignore[arg-type]
    with running_emulator(config, clock=clock) as emu:
        client = make_client(emu)
        created = await client.responses.create(model="gpt-4.1", input="hi", background=True, **create)
        clock.advance(WORK + seconds)
        try:
            ended = await client.responses.retrieve(created.id)
        except openai.NotFoundError:
            return False
        assert ended.status == "completed"
        return True


@pytest.mark.parametrize("store", [{}, {"store": False}], ids=["store-omitted", "store-false"])
async def test_current_policy_deletes_an_unstored_background_response_ten_minutes_after_it_ends(
    make_client: ClientFactory, store: dict[str, Any]
) -> None:
    assert await _held_after(make_client, "current", 599.0, **store)
    assert not await _held_after(make_client, "current", 601.0, **store)


async def test_current_policy_keeps_a_response_created_with_store_true(make_client: ClientFactory) -> None:
    assert await _held_after(make_client, "current", 86_000.0, store=True)


async def test_legacy_policy_keeps_a_response_created_without_store(make_client: ClientFactory) -> None:
    assert await _held_after(make_client, "legacy", 86_000.0)
