"""What an agent row that went through function-tool rounds used and cost: every response it paid for.

The response that asks for the tools is a paid response like any other; the row then moves on to the
follow-up that answers it. The row's tokens and cost counted the last response alone, so status, the
run's closing cost, the output's token columns and `--max-cost` all under-counted every agent row with
a tool round. Here each row's tokens are held to the server's own usage summed over the row's responses
(read back from the emulator through the SDK), in poll and stream mode, and after a run killed before
and after the row moved on, so no response is counted twice or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.run import open_session
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
    table = new_table(tmp_path / "batch", rows)
    session = open_session(settings, table, prompts(rows), agent=CountingTool().factory)
    try:
        report = await session.runner.run()
        spent = session.driver.context.spend.spent
    finally:
        await session.aclose()
        table.close()
    assert report.counts == {"completed": rows}
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
