"""Agents for the tests of how agent rows are waited on: one tool, and faults the emulator is asked for
(`x-emulator-fault`) on the tool round's follow-up creates alone, or on the rows' own creates alone; and
the run that finishes such a batch (`finish`) and the row it reads back (`row_of`); what the server
holds for each row (`served`), to hold a row's usage to; and an agent whose polls move the emulator's
clock (`PollsMoveTheClock`).

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
import openai
import pandas as pd
import pytest
from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.run import RunReport, open_session
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable, load
from tests.llm.agent_factories import ANSWER
from tests.support.clock import ManualClock
from tests.support.runs import prompts, settings_for

KEY = "row-0000"
USAGE = ("input_tokens", "output_tokens", "reasoning_tokens", "cached_input_tokens")


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


async def served(emu: RunningEmulator, settings: Settings) -> dict[str, dict[str, Any]]:
    """Per row: the ids of the responses the server holds for it, and their usage and cost, summed."""
    spend = Spend.open(settings, pricing_only=True)
    rows: dict[str, dict[str, Any]] = {}
    async with openai.AsyncOpenAI(base_url=emu.url, api_key="unused") as client:
        for listed in emu.emulator.listing():
            snapshot = snapshot_of(await client.responses.retrieve(listed["id"]))
            assert snapshot.input_tokens is not None  # every response of these rows ended with usage
            row = rows.setdefault(listed["metadata"]["rowrelay_row"], {"ids": set(), "cost_usd": 0.0})
            row["ids"].add(listed["id"])
            told = (
                snapshot.input_tokens,
                snapshot.output_tokens,
                snapshot.reasoning_tokens or 0,
                snapshot.cached_tokens or 0,
            )
            for name, value in zip(USAGE, told, strict=True):
                row[name] = row.get(name, 0) + value
            row["cost_usd"] += spend.cost_of(snapshot) or 0.0
    return rows


def assert_counts_every_response(row: Any, server: dict[str, Any], *, rounds: bool = True) -> None:
    """The row's usage is the sum over the responses the server holds for it, each on record once
    (`rounds`: the row went through a tool round, so it holds two or more)."""
    earlier = row["previous_response_ids"]
    on_record = [*(earlier.split() if isinstance(earlier, str) else ()), row["response_id"]]
    assert sorted(on_record) == sorted(server["ids"])
    if rounds:
        assert len(on_record) >= 2, "the row went through a tool round"
    told = {name: int(row[name] or 0) for name in USAGE}
    assert told == {name: server[name] for name in USAGE}
    assert row["cost_usd"] == pytest.approx(server["cost_usd"], rel=1e-9)


class PollsMoveTheClock:
    """An agent factory (one tool, `calls` its runs) whose client counts the polls it sends (`polls`, a
    GET of a response without a stream) and moves the emulator's `clock` by `by` seconds as the poll
    numbered `at` leaves: a response that ends while one AF call polls it again and again."""

    def __init__(self, clock: ManualClock, *, at: int, by: float) -> None:
        self.clock, self.at, self.by = clock, at, by
        self.calls = self.polls = 0

    def factory(self, client: OpenAIChatClient) -> Agent[Any]:
        async def lookup_ticket(ticket: str) -> str:
            """Look a ticket up in the tracker."""
            self.calls += 1
            return f"ticket {ticket} {ANSWER}"

        pool: httpx2.AsyncClient = client.client._client
        pool.event_hooks["request"].append(self._count)
        return Agent(
            client=client, name="tracker", instructions="Answer from the tracker.", tools=[lookup_ticket]
        )

    async def _count(self, request: httpx2.Request) -> None:
        if request.method == "GET" and b"stream" not in request.url.query:
            self.polls += 1
            if self.polls == self.at:
                self.clock.advance(self.by)
