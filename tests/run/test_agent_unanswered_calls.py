"""Agent rows never end `completed` with no answer when their tool round was not made.

A trial in stream mode with streams cut every 6 events: each cut replay was polled instead, and a poll
that read the response while it was still writing its function call handed AF the call with its
arguments cut short. AF ran the tool on them (an argument error), polled again and again, and after
three errors stopped running tools for that call: the completed response it read next came back with
its function call unanswered, and the row was recorded completed, its output empty, no follow-up made.
Only a completed response's calls are run now; and a response asking for tools that AF hands back
unanswered (here, a tool that needs approval, which nobody gives in a batch) fails its row as
`no_answer`, paid for and counted, rather than completing it with nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from agent_framework import Agent, tool
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import RowRequest, in_background, make_backend
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import load
from tests.llm.agent_factories import ANSWER, CountingTool
from tests.run.agent_faults import KEY, PollsMoveTheClock, assert_counts_every_response, served
from tests.support.clock import ManualClock
from tests.support.runs import creates_per_row, new_table, prompts, settings_for

GAVE_UP = "Maximum consecutive function call errors"


async def test_a_poll_that_reads_a_function_call_still_being_written_runs_no_tool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Polled while its call's arguments are half written, the response is still running: no tool runs
    and AF polls once. (It ran the tool on the half, three times, and handed back the completed response
    that the fourth poll read, with its call unanswered: the row's end, with no answer.)"""
    clock = ManualClock()
    polls = PollsMoveTheClock(clock, at=4, by=60)  # the response ends as AF's fourth poll leaves
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        backend = in_background(make_backend(settings_for(emu), agent=polls.factory))
        assert backend is not None
        request = RowRequest(KEY, prompts(1)[KEY], None, "gpt-4.1-mini", {"rowrelay_row": KEY})
        try:
            created = await backend.create(request)
            assert created.response_id is not None
            entries = emu.emulator.records[created.response_id].entries
            writing = next(e.offset for e in entries if e.kind == "arguments_delta")
            written = next(e.offset for e in entries if e.kind == "arguments_done")
            clock.advance((writing + written) / 2)  # part of the arguments are out
            with caplog.at_level(logging.WARNING):
                seen = await backend.retrieve(created.response_id)
            assert (seen.response_id, seen.status) == (created.response_id, "in_progress")
            assert (polls.polls, polls.calls) == (1, 0)
            assert GAVE_UP not in caplog.text

            clock.advance(60)  # the response ends, asking for the tool: the round is made
            moved = await backend.retrieve(created.response_id)
            assert moved.response_id != created.response_id
            assert moved.answers is not None
            assert moved.answers.response_id == created.response_id
            assert polls.calls == 1
            clock.advance(60)
            assert moved.response_id is not None
            answered = await backend.retrieve(moved.response_id)
        finally:
            await backend.aclose()
    assert answered.status == "completed"
    assert answered.output_text is not None
    assert ANSWER in answered.output_text


async def test_rows_whose_streams_are_cut_make_their_tool_rounds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The trial: stream mode, every stream cut after 6 events, a second's work per response, so the
    cut replays are polled while the call is being written. Some rows ended completed with no answer."""
    rows = 16
    tool = CountingTool()
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:1"), drop_stream_after=6)
    with running_emulator(config) as emu:
        settings = settings_for(emu, mode="stream")
        table = new_table(tmp_path / "batch", rows)
        session = open_session(settings, table, prompts(rows), agent=tool.factory)
        try:
            with caplog.at_level(logging.WARNING):
                report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        server = await served(emu, settings)
        jobs = creates_per_row(emu)
    frame = load(tmp_path / "batch").set_index("row_key")
    assert report.counts == {"completed": rows}
    assert all(ANSWER in text for text in frame["output_text"])
    assert set(jobs.values()) == {2}  # each row's response and the follow-up that answers it
    assert tool.calls == rows  # once each, on its whole arguments
    assert GAVE_UP not in caplog.text
    for key, row in frame.iterrows():
        assert_counts_every_response(row, server[str(key)])


def needs_approval(client: OpenAIChatClient) -> Agent[Any]:
    """An agent whose one tool needs a person's approval: AF hands the call back instead of running it."""

    @tool(approval_mode="always_require")
    def lookup_ticket(ticket: str) -> str:
        """Look a ticket up in the tracker."""
        return f"ticket {ticket} {ANSWER}"

    return Agent(
        client=client, name="tracker", instructions="Answer from the tracker.", tools=[lookup_ticket]
    )


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_response_whose_tools_the_agent_did_not_run_fails_its_row(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    """Recorded completed with empty output, the row looked done; it fails `no_answer` (not sent again by
    itself: the same agent would stop the same way), the response that asked counted as paid."""
    rows = 2
    settings = settings_for(emulator, mode=mode)
    table = new_table(tmp_path / "batch", rows)
    session = open_session(settings, table, prompts(rows), agent=needs_approval)
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    frame = load(tmp_path / "batch").set_index("row_key")
    assert report.counts == {"failed": rows}
    assert (frame["error_type"] == "no_answer").all()
    assert frame["error_message"].str.contains("without answering them").all()
    assert set(creates_per_row(emulator).values()) == {1}
    server = await served(emulator, settings)
    for key, row in frame.iterrows():
        assert row["attempts"] == 1
        assert_counts_every_response(row, server[str(key)], rounds=False)
