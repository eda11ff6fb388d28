"""A run's progress projects the batch's cost with the rows its stop cancelled, and which the next run
sends again, as not ended: by the run's own max_attempts, as `status` and `summary()` count them.

The progress line counted every cancelled row as ended, so right after Ctrl-C it said `spent $X of ~$X`,
as if nothing were left to pay for, while `status` (and the same command, run again) sent those rows
again. Two rows of four completed by one run, the other two in flight when the next run is stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.run import Progress, open_session
from rowrelay.tasks.state import StateTable, summary
from tests.support.clock import ManualClock
from tests.support.inspection import eventually, reading
from tests.support.runs import new_table, prompts, running, settings_for

DONE, STOPPED = 2, 2
"""Rows the first run completes, and rows in flight when the second run is stopped."""
ROWS = DONE + STOPPED


async def _run(emu: RunningEmulator, clock: ManualClock, table: StateTable, max_attempts: int) -> None:
    """The first run: its rows complete once the emulator's clock has moved past their work."""
    session = open_session(settings_for(emu, max_attempts=max_attempts), table, prompts(DONE))
    async with running(session, table) as run:
        await eventually(reading(lambda: len(emu.emulator.listing())), lambda n: n == DONE)
        clock.advance(31)
        report = await asyncio.wait_for(run, timeout=120)
    assert report.counts == {"completed": DONE}


async def _stopped(emu: RunningEmulator, table: StateTable, max_attempts: int) -> list[Progress]:
    """The second run, stopped (as Ctrl-C stops it) once its rows are in flight; what it reported."""
    seen: list[Progress] = []
    settings = settings_for(emu, max_attempts=max_attempts)
    session = open_session(settings, table, prompts(ROWS), progress=seen.append)
    async with running(session, table) as run:
        await eventually(reading(lambda: len(emu.emulator.listing())), lambda n: n == ROWS)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    return seen


@pytest.mark.parametrize(("max_attempts", "not_ended"), [(3, STOPPED), (1, 0)])
async def test_a_stopped_runs_last_progress_projects_the_rows_the_next_run_sends_again(
    tmp_path: Path, max_attempts: int, not_ended: int
) -> None:
    """With attempts left (3), the two stopped rows are still to pay for; with none (1), the next run
    does not send them, and the projection is what was spent."""
    state = tmp_path / "batch"
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:30"))
    with running_emulator(config, clock=(clock := ManualClock())) as emu:  # jobs end as the test says
        await _run(emu, clock, new_table(state, DONE), max_attempts)
        seen = await _stopped(emu, new_table(state, ROWS), max_attempts)
    last = seen[-1]
    assert (last.counts["completed"], last.counts["cancelled"]) == (DONE, STOPPED)
    assert last.spent_usd is not None
    assert last.spent_usd > 0
    # What was spent, and for each row not ended the mean cost of a priced row (the completed ones)
    assert last.projected_usd == pytest.approx(last.spent_usd * (DONE + not_ended) / DONE)
    # The figure `status` shows for the batch, by the same max_attempts
    assert last.projected_usd == pytest.approx(
        summary(state, max_attempts=max_attempts)["projected_cost_usd"]
    )
