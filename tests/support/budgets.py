"""Timing a rate budget's creates on the virtual clock (`virtual_time`), for its local and shared forms."""

from __future__ import annotations

import asyncio

from rowrelay.tasks.llm import RateBudget


async def answers_midway(budget: RateBudget) -> list[float]:
    """Seconds at which four creates of a 16-token prompt, all waiting from the start, get through, when
    ten answers of 100 output tokens come back 10 ms in (the output estimate: 125, with its margin)."""
    loop = asyncio.get_running_loop()
    start, times = loop.time(), []

    async def create() -> None:
        await budget.acquire_create(16)
        times.append(loop.time() - start)

    waiting = [asyncio.create_task(create()) for _ in range(4)]
    await asyncio.sleep(0.01)
    for _ in range(10):
        budget.output.observe(100)
    await asyncio.gather(*waiting)
    return times
