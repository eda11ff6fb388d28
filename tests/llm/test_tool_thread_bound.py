"""An agent's plain (non-async) tool called by more rows at once than the bound: at most
`THREADS_AT_ONCE` calls run at once, each later one starting as an earlier one returns (AF's
`asyncio.to_thread` was held to the default executor's size; a thread per call was not held at all, and
a burst from thousands of rows in flight started thousands of threads against the user's database).
The tool is released by the test, never by a clock."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import openai
from agent_framework import Agent, FunctionTool
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import RowRequest, Snapshot, in_background
from rowrelay.tasks.llm.client import make_backend
from rowrelay.tasks.llm.tool_threads import THREADS_AT_ONCE, ToolThreads
from tests.support.runs import settings_for

TOOL = "lookup_order"
CALLS = THREADS_AT_ONCE + 3


class PeakTool:
    """An agent factory whose sync tool blocks until `release`, counting the calls inside it at once
    (`inside`, `peak`) and those that returned; `bound_reached` is set once `THREADS_AT_ONCE` are in."""

    def __init__(self) -> None:
        self.release, self.bound_reached = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self.inside = self.peak = self.returned = 0

    def factory(self, client: OpenAIChatClient) -> Agent[Any]:
        def lookup_order(order: str) -> str:
            """Look an order up in the shop's system."""
            with self._lock:
                self.inside += 1
                self.peak = max(self.peak, self.inside)
                if self.inside >= THREADS_AT_ONCE:
                    self.bound_reached.set()
            self.release.wait()
            with self._lock:
                self.inside -= 1
                self.returned += 1
            return f"order {order} was shipped on Monday"

        return Agent(client=client, name="shop", instructions="Answer from the shop.", tools=[lookup_order])


def tool_threads_alive() -> int:
    return sum(thread.name == f"tool {TOOL}" for thread in threading.enumerate())


async def test_a_burst_of_sync_tool_calls_runs_at_most_the_bound_at_once() -> None:
    tool = PeakTool()
    client = openai.AsyncOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")  # sends nothing
    agent = ToolThreads().threaded(tool.factory(OpenAIChatClient(model="gpt-4.1-mini", async_client=client)))
    [threaded] = agent.default_options["tools"]
    assert isinstance(threaded, FunctionTool)
    assert threaded.func is not None
    call = threaded.func
    try:
        calls = [asyncio.create_task(call(order=str(n))) for n in range(CALLS)]
        await asyncio.sleep(0)  # every call runs up to its first wait: a thread started, or a slot awaited
        assert tool_threads_alive() == THREADS_AT_ONCE, "a thread per call, past the bound"
        await asyncio.to_thread(tool.bound_reached.wait)
        assert not any(task.done() for task in calls)
        tool.release.set()
        answers = await asyncio.gather(*calls)
    finally:
        tool.release.set()  # a failed test leaves no thread blocking the session's exit
    assert tool.peak == THREADS_AT_ONCE
    assert tool.returned == CALLS
    assert sorted(answers) == sorted(f"order {n} was shipped on Monday" for n in range(CALLS))


async def test_rows_polled_at_once_run_their_tools_at_most_the_bound_at_once(
    emulator: RunningEmulator,
) -> None:
    tool = PeakTool()
    backend = in_background(make_backend(settings_for(emulator), agent=tool.factory))
    assert backend is not None
    rows = [f"row-{n:04d}" for n in range(CALLS)]
    polls: list[asyncio.Task[Snapshot]] = []
    try:
        asked: list[str] = []
        for row in rows:
            request = RowRequest(
                row, f"Where is order {row}?", None, "gpt-4.1-mini", {"rowrelay_row": row}, 500
            )
            first = await backend.create(request)
            assert first.response_id is not None
            asked.append(first.response_id)
        polls = [asyncio.create_task(backend.retrieve(response_id)) for response_id in asked]
        await asyncio.to_thread(tool.bound_reached.wait)  # the bound's calls are in their tools
        assert tool_threads_alive() == THREADS_AT_ONCE
        tool.release.set()
        snapshots = await asyncio.gather(*polls)
    finally:
        tool.release.set()
        await asyncio.gather(*polls, return_exceptions=True)  # each poll ends before the close
        await backend.aclose()
    assert tool.peak <= THREADS_AT_ONCE
    assert tool.returned == CALLS, "every row's tool ran, the later ones as slots came free"
    assert all(snapshot.response_id not in asked for snapshot in snapshots), "each row moved on"
    follow_ups = [
        record.body
        for record in emulator.emulator.records.values()
        if record.body.get("previous_response_id")
    ]
    assert sorted(body["metadata"]["rowrelay_row"] for body in follow_ups) == rows, "one follow-up a row"
