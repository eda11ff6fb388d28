"""What an agent row that went through function-tool rounds used and cost: every response it paid for.

The response that asks for the tools is a paid response like any other; the row then moves on to the
follow-up that answers it. The row's tokens and cost counted the last response alone, so status, the
run's closing cost, the output's token columns and `--max-cost` all under-counted every agent row with
a tool round. Here each row's tokens are held to the server's own usage summed over the row's responses
(read back from the emulator through the SDK), in poll and stream mode, after a run killed before and
after the row moved on, and for a row that ends on the response that asked (its follow-up refused, or
lost with its last attempt), so no response is counted twice or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.run import RunReport, open_session
from rowrelay.tasks.run.response_cost import response_cost
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import load
from tests.llm.agent_factories import ANSWER, CountingTool
from tests.run.agent_faults import (
    KEY,
    FaultyRounds,
    assert_counts_every_response,
    finish,
    row_of,
    served,
)
from tests.support.clock import ManualClock
from tests.support.runs import creates_per_row, new_table, prompts, running, settings_for


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_rows_tokens_and_cost_count_every_response_of_its_tool_rounds(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    """Counted by the last response alone, each row here lost its first response's tokens (35 in and
    12 out in a trial) from its own columns, from status and the closing cost, and from the cap."""
    rows = 4
    settings = settings_for(emulator, mode=mode)
    report, spent = await _run(tmp_path / "batch", rows, CountingTool().factory, settings)
    assert report.counts == {"completed": rows}
    assert (report.counters.creates, report.counters.follow_ups) == (rows, rows)  # the closing line's
    frame = load(tmp_path / "batch").set_index("row_key")
    server = await served(emulator, settings)
    assert set(server) == set(frame.index)
    for key, row in frame.iterrows():
        assert ANSWER in row["output_text"]
        assert_counts_every_response(row, server[str(key)])
    # What the cap saw as spent: every response, as it was paid for.
    assert spent == pytest.approx(sum(each["cost_usd"] for each in server.values()), rel=1e-9)


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_run_killed_while_a_tool_runs_counts_the_response_that_asked_once(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    """Stopped before the row moved on: the next run reads the response that asked again, runs the
    round again, and counts that response when the row moves on, once."""
    directory = tmp_path / "batch"
    held = FaultyRounds(hold=True)
    settings = settings_for(emulator, mode=mode)
    table = new_table(directory, 1)
    session = open_session(settings, table, prompts(1), agent=held.factory)
    async with running(session, table) as run:
        await held.entered.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    report = await finish(emulator, directory, CountingTool().factory, mode=mode)
    assert report.counts == {"completed": 1}
    assert creates_per_row(emulator)[KEY] == 2
    assert_counts_every_response(row_of(directory), (await served(emulator, settings))[KEY])


async def test_a_run_killed_after_the_row_moved_on_does_not_count_the_round_again(tmp_path: Path) -> None:
    """Killed after the move to the follow-up was written, before the follow-up ended: the next run
    waits on the follow-up, and the response that asked, counted with the move, is not counted again.
    The emulator's clock stands still, so the follow-up is running when the run dies."""
    directory, clock = tmp_path / "batch", ManualClock()
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        settings = settings_for(emu)
        table = new_table(directory, 1)
        session = open_session(settings, table, prompts(1), agent=CountingTool().factory)
        driving = asyncio.ensure_future(session.driver.drive(KEY))
        while creates_per_row(emu)[KEY] < 1:
            assert not driving.done(), "the row ended before it was created"
            await asyncio.sleep(0.01)
        clock.advance(31)  # the row's own response ends, asking for the tool
        # Moved on, and written: `_move_on` commits the move before the row waits on the follow-up. The
        # file is read, not the table in memory, which holds the move before the write is done (a run
        # killed in between makes the round again, a counted orphan: not what this test is about).
        while pd.isna(row_of(directory)["previous_response_ids"]):
            assert not driving.done(), "the row ended before it moved on"
            await asyncio.sleep(0.01)
        moved = table.get(KEY)
        assert moved.input_tokens is not None, "the response that asked is counted as the row moves on"
        # "Die": the table is abandoned without a close, as SIGKILL leaves it.
        driving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driving
        await session.aclose()
        table.lease.release()

        clock.advance(31)  # the follow-up ends
        report = await finish(emu, directory, CountingTool().factory)
        assert report.counts == {"completed": 1}
        assert creates_per_row(emu)[KEY] == 2
        assert_counts_every_response(row_of(directory), (await served(emu, settings))[KEY])


async def _run(
    directory: Path, rows: int, factory: Callable[..., Any], settings: Settings
) -> tuple[RunReport, float]:
    """Run `rows` rows to their end: the report, and what the run counted as spent (what the cap saw)."""
    table = new_table(directory, rows)
    session = open_session(settings, table, prompts(rows), agent=factory)
    try:
        return await session.runner.run(), session.driver.context.spend.ledger.spent
    finally:
        await session.aclose()
        table.close()


async def _ended_rows_run(directory: Path, agent: FaultyRounds, settings: Settings) -> float:
    """Run one row to its end (failed); what the run counted as spent."""
    report, spent = await _run(directory, 1, agent.factory, settings)
    assert report.counts == {"failed": 1}
    return spent


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_row_whose_follow_up_is_refused_counts_the_response_that_asked(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    """The tool's output is over the model's window, so the server refuses the follow-up (400): the row
    fails on the response that asked for the tool, which was paid for and counted nowhere (tokens 0, cost
    none, nothing against the cap)."""
    huge = FaultyRounds(output="lorem " * 150_000)
    settings = settings_for(emulator, mode=mode, model="gpt-4o")
    spent = await _ended_rows_run(tmp_path / "batch", huge, settings)
    row = row_of(tmp_path / "batch")
    assert row["error_type"] == "rejected"
    server = (await served(emulator, settings))[KEY]
    assert_counts_every_response(row, server, rounds=False)
    assert spent == pytest.approx(server["cost_usd"], rel=1e-9)


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_row_whose_lost_follow_ups_spend_its_attempts_counts_the_response_that_asked(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    """Every follow-up starts its job and is answered by a gateway's 502: each is counted maybe created,
    and the last attempt's ends the row, on the response that asked for the tool, which was paid for
    and counted nowhere. The lost follow-ups are orphans, whose usage no one can read."""
    lost = FaultyRounds(follow_up_fault="gateway=502")
    settings = settings_for(emulator, mode=mode)
    spent = await _ended_rows_run(tmp_path / "batch", lost, settings)
    row = row_of(tmp_path / "batch")
    assert (row["error_type"], row["attempts"], row["orphans"]) == ("maybe_created", 3, 2)
    assert pd.isna(row["previous_response_ids"])
    assert creates_per_row(emulator)[KEY] == 3  # the response that asked, and the two lost follow-ups
    async with openai.AsyncOpenAI(base_url=emulator.url, api_key="unused") as client:
        asked = snapshot_of(await client.responses.retrieve(row["response_id"]))
    assert asked.awaits_tools
    told = (row["input_tokens"], row["output_tokens"])
    assert told == (asked.input_tokens, asked.output_tokens)
    cost = Spend.open(settings, pricing_only=True).cost_of(asked)
    assert row["cost_usd"] == pytest.approx(cost, rel=1e-9)
    assert spent == pytest.approx(cost, rel=1e-9)


async def test_a_lost_follow_up_found_by_the_next_run_that_ends_the_row_counts_the_response_that_asked(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The run dies while the follow-up's answer hangs; the next run, finding its note, counts it maybe
    created, which spends the row's last attempt (two here): the row ends before the round is made
    again, on the response that asked, which is counted once, as it ends."""
    directory = tmp_path / "batch"
    hanging = FaultyRounds(follow_up_fault="hang")
    settings = settings_for(emulator, max_attempts=2)
    table = new_table(directory, 1)
    session = open_session(settings, table, prompts(1), agent=hanging.factory)
    driving = asyncio.ensure_future(session.driver.drive(KEY))
    while creates_per_row(emulator)[KEY] < 2:  # the follow-up's job has started: its answer hangs
        assert not driving.done(), "the row ended before its follow-up was sent"
        await asyncio.sleep(0.01)
    driving.cancel()  # "die", the table abandoned without a close
    with contextlib.suppress(asyncio.CancelledError):
        await driving
    await session.aclose()
    table.lease.release()

    report = await finish(emulator, directory, CountingTool().factory, max_attempts=2)
    row = row_of(directory)
    assert report.counts == {"failed": 1}
    assert (row["error_type"], row["attempts"], row["orphans"]) == ("maybe_created", 2, 1)
    async with openai.AsyncOpenAI(base_url=emulator.url, api_key="unused") as client:
        asked = snapshot_of(await client.responses.retrieve(row["response_id"]))
    assert (row["input_tokens"], row["output_tokens"]) == (asked.input_tokens, asked.output_tokens)
    cost = Spend.open(settings, pricing_only=True).cost_of(asked)
    assert row["cost_usd"] == pytest.approx(cost, rel=1e-9)


async def test_a_crash_while_pricing_the_response_that_asked_still_moves_the_row_on(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in pricing (monkeypatched: no server's answer makes it raise) met by the response that asked
    for the tools raised before the row recorded its follow-up: the follow-up, made and paid for, was
    never the row's, and the row crashed. Now the round goes unpriced, and the row moves on and ends."""
    priced = response_cost  # the pricing rule, as `Spend` calls it
    calls: list[str | None] = []

    def crashes_first(snapshot: Any, *prices: Any) -> float | None:
        calls.append(snapshot.response_id)
        if len(calls) == 1:  # the first response to end: the one that asked for the tool
            raise TypeError("unsupported operand type(s) for -: 'str' and 'int'")
        return priced(snapshot, *prices)

    monkeypatch.setattr("rowrelay.tasks.run.spend.response_cost", crashes_first)
    settings = settings_for(emulator, mode="poll")
    report, spent = await _run(tmp_path / "batch", 1, CountingTool().factory, settings)
    assert report.counts == {"completed": 1}
    assert creates_per_row(emulator)[KEY] == 2, "the row's create and its follow-up, none made again"
    row = row_of(tmp_path / "batch")
    assert ANSWER in row["output_text"]
    assert len(calls) == 2, "the round and the row's end, each priced once"
    server = (await served(emulator, settings))[KEY]
    assert row["cost_usd"] == pytest.approx(spent), "the row's cost is its last response's alone"
    assert 0 < spent < server["cost_usd"], "the round, its pricing crashed, is not counted"
