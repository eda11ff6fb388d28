"""A batch resumed long after a crash, on a server that deletes a background response about 10 minutes
after it ends unless its create said `store: true` (newer versions of OpenAI's background guide; the
emulator's current store policy). rowrelay says it, so the rows the crashed run left in flight are found
and recorded, never created again. Without it every such row met a 404, was recorded expired and was
resubmitted: each paid for twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import RowRequest
from rowrelay.tasks.state import load
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import left_in_flight, new_table, prompts, run_table, settings_for

ROWS = 8


async def test_rows_left_in_flight_are_found_an_hour_later_and_not_created_again(tmp_path: Path) -> None:
    clock = ManualClock()
    config = EmulatorConfig(store_policy="current", latency=LatencySpec.parse("fixed:30"))
    asked = prompts(ROWS)
    with running_emulator(config, clock=clock) as emu:
        table = new_table(tmp_path / "batch", ROWS)
        crashed = [
            RowRequest(key, prompt, None, "gpt-4.1-mini", {"rowrelay_row": key})
            for key, prompt in asked.items()
        ]
        await left_in_flight(table, emu.url, crashed)
        clock.advance(3_600.0)  # the responses ended long ago; the batch is resumed an hour later
        report = await run_table(table, settings_for(emu), asked)
        started, unanswered = jobs_of(emu.url)
    assert report.counts == {"completed": ROWS}
    assert started == Counter(dict.fromkeys(asked, 1)), "each row's one job, found again"
    frame = load(tmp_path / "batch")
    assert (frame["attempts"] == 1).all()
    assert_every_job_is_paid_for(frame, started, unanswered)
