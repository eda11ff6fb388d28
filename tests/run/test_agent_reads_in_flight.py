"""However many agent rows read a response asking for tools at once, each row that ends on that response
(its follow-up refused) counts it. The backend kept those reads in one cache of 4,096, dropping the
oldest: past that many rows between their read and their follow-up, a row's read was gone when its
follow-up was refused, and the paid response was counted nowhere (tokens 0, no cost). Here the bound is
lowered to 2 on code that has one (`_READ_KEPT`), and three rows wait in their tools at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import agent_rounds
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import load
from tests.run.agent_faults import assert_counts_every_response, served
from tests.support.runs import new_table, prompts, running, settings_for

ROWS = 3
TOO_LONG = "lorem " * 150_000
"""A tool output over the model's window: the server refuses the follow-up that carries it (400)."""


class AllInTheirTools:
    """An agent whose tool waits until `ROWS` calls are in it, then returns `TOO_LONG`."""

    def __init__(self) -> None:
        self.calls = 0
        self.all_in = asyncio.Event()

    def factory(self, client: OpenAIChatClient) -> Agent[Any]:
        async def lookup_ticket(ticket: str) -> str:
            """Look a ticket up in the tracker."""
            self.calls += 1
            if self.calls == ROWS:
                self.all_in.set()
            await self.all_in.wait()
            return TOO_LONG

        return Agent(
            client=client, name="tracker", instructions="Answer from the tracker.", tools=[lookup_ticket]
        )


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_rows_reading_more_tool_asking_responses_at_once_than_a_bound_each_count_theirs(
    emulator: RunningEmulator, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_rounds, "_READ_KEPT", ROWS - 1, raising=False)  # the old cache's bound
    settings = settings_for(emulator, mode=mode, model="gpt-4o")
    directory = tmp_path / "batch"
    agent = AllInTheirTools()
    table = new_table(directory, ROWS)
    session = open_session(settings, table, prompts(ROWS), agent=agent.factory)
    async with running(session, table) as run:
        report = await run
    assert report.counts == {"failed": ROWS}
    frame = load(directory)
    assert set(frame["error_type"]) == {"rejected"}
    server = await served(emulator, settings)
    for _, row in frame.iterrows():
        assert_counts_every_response(row, server[row["row_key"]], rounds=False)
