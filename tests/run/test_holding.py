"""A run's progress says what holds its calls back (`RateBudget.held`), as the session tells it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.run import Progress, open_session
from rowrelay.tasks.run.holding import HeldProgress
from tests.support.runs import new_table, prompts, settings_for


async def test_a_sessions_progress_says_what_holds_its_calls_back(tmp_path: Path) -> None:
    seen: list[Progress] = []
    with running_emulator(EmulatorConfig()) as emu:
        table = new_table(tmp_path / "batch", 2)
        session = open_session(settings_for(emu), table, prompts(2), progress=seen.append)
        try:
            session.runner.report_progress(2, time.monotonic())
            session.budget.on_rate_limited(300.0, poll=True)  # a poll's 429 asked for five minutes
            session.runner.report_progress(2, time.monotonic())
        finally:
            await session.aclose()
    before, after = seen
    assert isinstance(before, HeldProgress)
    assert before.held == ()
    assert isinstance(after, HeldProgress)
    [hold] = after.held
    assert (hold.by, hold.why) == ("polls", "429 retry-after")
    assert hold.seconds == pytest.approx(300.0, abs=5.0)  # the wall clock moved a little meanwhile
    assert after.counts == before.counts
    assert after.total == 2
