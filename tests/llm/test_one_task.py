"""`stepped_in_one_task`: a generator that keeps context variables across steps, read from two tasks."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator

import pytest

from rowrelay.tasks.llm.one_task import stepped_in_one_task

SPAN: contextvars.ContextVar[str | None] = contextvars.ContextVar("span", default=None)


class Source:
    """Sets SPAN on its first step and resets it on its last, as Agent Framework's telemetry does."""

    def __init__(self, fail: bool = False) -> None:
        self.closed = False
        self.fail = fail

    async def items(self) -> AsyncGenerator[int, None]:
        token = SPAN.set("open")
        try:
            yield 1
            if self.fail:
                raise ValueError("the source broke")
            yield 2
        finally:
            SPAN.reset(token)  # raises ValueError when stepped from another task's context
            self.closed = True


async def _first(stream: AsyncGenerator[int, None]) -> int:
    return await anext(stream)


async def test_a_stream_started_in_one_task_is_read_on_in_another() -> None:
    source = Source()
    bare = source.items()
    await asyncio.create_task(_first(bare))
    with pytest.raises(ValueError, match="different Context"):  # what the wrapper exists for
        async for _ in bare:
            pass

    source = Source()
    stream = stepped_in_one_task(source.items())
    assert await asyncio.create_task(_first(stream)) == 1
    assert [item async for item in stream] == [2]
    assert source.closed


async def test_closing_early_closes_the_source_and_errors_reach_the_reader() -> None:
    source = Source()
    stream = stepped_in_one_task(source.items())
    assert await asyncio.create_task(_first(stream)) == 1
    await stream.aclose()
    assert source.closed

    source = Source(fail=True)
    stream = stepped_in_one_task(source.items())
    with pytest.raises(ValueError, match="the source broke"):
        async for _ in stream:
            pass
    assert source.closed
