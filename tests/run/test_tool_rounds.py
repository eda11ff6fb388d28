"""Agent tool rounds through the runner: the row follows the follow-up response durably, so a run that
dies after the round resumes it without creating it again or running the tool again.

The agent has one counting tool (tests/llm/agent_factories.py); the emulator's model calls it once per
row, and AF answers the call with a new, paid, response.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import StateTable, load
from tests.llm.agent_factories import CountingTool
from tests.support.runs import creates_per_row, new_table, prompts, settings_for

ROWS = 6


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_batch_of_tool_rounds_records_the_chain(
    emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    tool = CountingTool()
    table = new_table(tmp_path / "batch", ROWS)
    session = open_session(settings_for(emulator, mode=mode), table, prompts(ROWS), agent=tool.factory)
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    frame = load(tmp_path / "batch")
    assert report.counts == {"completed": ROWS}
    assert tool.calls == ROWS  # one round per row, never repeated
    assert set(creates_per_row(emulator).values()) == {2}  # the first response and its follow-up
    assert frame["output_text"].str.contains("The tool returned").all()
    assert (frame["attempts"] == 1).all()
    assert (frame["orphans"] == 0).all()
    # The token is the follow-up's; the first response is kept on record.
    assert frame["previous_response_ids"].notna().all()
    assert (frame["previous_response_ids"] != frame["response_id"]).all()
    assert report.counters.maybe_created == 0


async def test_a_run_that_dies_after_the_round_resumes_it_without_paying_again(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    tool = CountingTool()
    directory = tmp_path / "batch"
    table = new_table(directory, 1)
    session = open_session(settings_for(emulator), table, prompts(1), agent=tool.factory)
    key = "row-0000"
    driving = asyncio.ensure_future(session.driver.drive(key))
    # Wait until the move to the follow-up is durable (on disk, read by another reader), then "die":
    # the driver stops mid-wait, and the table is abandoned without a close, as a SIGKILL would leave it.
    while True:
        on_disk = load(directory).set_index("row_key").loc[key]
        if isinstance(on_disk["previous_response_ids"], str):
            break
        assert not driving.done(), "the row ended before the test could stop it"
        await asyncio.sleep(0.01)
    driving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await driving
    await session.aclose()
    table.lease.release()
    assert tool.calls == 1

    resumed_tool = CountingTool()  # a new process: its own agent, nothing in memory
    table = StateTable.open(directory, batch_id="test-batch", checkpoint_interval=0.05)
    session = open_session(settings_for(emulator), table, prompts(1), agent=resumed_tool.factory)
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    row = load(directory).set_index("row_key").loc[key]
    assert report.counts == {"completed": 1}
    assert resumed_tool.calls == 0  # the round was not made again
    assert creates_per_row(emulator) == Counter({key: 2})  # nothing paid twice
    assert row["attempts"] == 1
    assert row["previous_response_ids"] == on_disk["previous_response_ids"]
    assert row["response_id"] == on_disk["response_id"]
