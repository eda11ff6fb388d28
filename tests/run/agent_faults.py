"""Agents for the tests of how agent rows are waited on: one tool, and faults the emulator is asked for
(`x-emulator-fault`) on the tool round's follow-up creates alone, or on the rows' own creates alone; and
the run that finishes such a batch (`finish`) and the row it reads back (`row_of`).

A follow-up is told from a row's own create by its body, which answers a function call
(`function_call_output`); the header is added on the way out by a request hook on the SDK client's
connection pool, the client rowrelay built and handed to the factory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pandas as pd
from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.run import RunReport, open_session
from rowrelay.tasks.state import StateTable, load
from tests.llm.agent_factories import ANSWER
from tests.support.runs import prompts, settings_for

KEY = "row-0000"


async def finish(
    emu: RunningEmulator, directory: Path, factory: Callable[..., Any], **settings: Any
) -> RunReport:
    """Run the batch at `directory` to its end, as a new process would: a new table, a new agent."""
    table = StateTable.open(directory, batch_id="test-batch", checkpoint_interval=0.05)
    session = open_session(settings_for(emu, **settings), table, prompts(len(table)), agent=factory)
    try:
        return await session.runner.run()
    finally:
        await session.aclose()
        table.close()


def row_of(directory: Path, key: str = KEY) -> pd.Series[Any]:
    row = load(directory).set_index("row_key").loc[key]
    assert isinstance(row, pd.Series)
    return row


class FaultyRounds:
    """An agent factory whose agent has one tool; `calls` counts its runs across the agents it built.

    `follow_up_fault` / `first_fault`: the fault asked for on each follow-up create / each row's own
    create. `hold`: the tool waits for `release` once `entered` is set (a tool still running when the
    run stops). `output`: what the tool returns (its answer by default)."""

    def __init__(
        self,
        *,
        follow_up_fault: str | None = None,
        first_fault: str | None = None,
        hold: bool = False,
        output: str | None = None,
    ) -> None:
        self.calls = 0
        self.follow_up_fault, self.first_fault = follow_up_fault, first_fault
        self.hold, self.output = hold, output
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def factory(self, client: OpenAIChatClient) -> Agent[Any]:
        async def lookup_ticket(ticket: str) -> str:
            """Look a ticket up in the tracker."""
            self.calls += 1
            self.entered.set()
            if self.hold:
                await self.release.wait()
            return self.output if self.output is not None else f"ticket {ticket} {ANSWER}"

        pool: httpx2.AsyncClient = client.client._client  # the SDK client's connection pool
        pool.event_hooks["request"].append(self._ask_for_faults)
        return Agent(
            client=client, name="tracker", instructions="Answer from the tracker.", tools=[lookup_ticket]
        )

    async def _ask_for_faults(self, request: httpx2.Request) -> None:
        if request.method != "POST" or not request.url.path.endswith("/responses"):
            return
        fault = self.follow_up_fault if b"function_call_output" in request.content else self.first_fault
        if fault is not None:
            request.headers["x-emulator-fault"] = fault
