"""An async generator stepped by one task of its own, whichever tasks ask for its items.

    stream = stepped_in_one_task(agent_updates(...))

asyncio gives each task its own copy of the context. A generator that sets a context variable in one
step and resets it in a later one (Agent Framework's telemetry does, around a streamed run) fails with
"<Token ...> was created in a different Context" when two tasks step it, as happens to a create's
stream: the submitter reads it up to the event that names the job (in a task of its own, so that a
stopping run can still hear the answer), then the row's wait reads on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TypeVar, cast

T = TypeVar("T")
_END = object()


async def stepped_in_one_task(source: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """`source`'s items, each step (and the closing) run by one task; closing this closes `source`."""
    asks: asyncio.Queue[asyncio.Future[object]] = asyncio.Queue()

    async def serve() -> None:
        try:
            while True:
                answer = await asks.get()
                try:
                    item: object = await anext(source)
                except StopAsyncIteration:
                    item = _END
                except Exception as exc:  # handed to the asker, who raises it
                    if not answer.cancelled():
                        answer.set_exception(exc)
                    return
                if not answer.cancelled():
                    answer.set_result(item)
                if item is _END:
                    return
        finally:
            await source.aclose()

    server = asyncio.create_task(serve())
    try:
        while True:
            answer: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            asks.put_nowait(answer)
            item = await answer
            if item is _END:
                return
            yield cast(T, item)  # every item but _END came from `source`
    finally:
        server.cancel()
        await asyncio.wait([server])  # `source` is closed by its own task before this one goes on
