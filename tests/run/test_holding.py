"""A run's progress says what holds its calls back (`RateBudget.held`), as the session tells it."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from rich.console import Console

from rowrelay.flows.console_progress import lines
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.run import Progress, open_session
from rowrelay.tasks.run.holding import HeldProgress
from tests.support.runs import new_table, prompts, settings_for
from tests.support.state import FakeClock


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


async def test_with_several_endpoints_a_hold_names_the_endpoint_whose_calls_it_holds(tmp_path: Path) -> None:
    """Two endpoints, one of them throttled: the line said `creates paused 0:06 (x-ratelimit: requests
    spent)` and nothing of which key was spent, each endpoint having its own budget."""
    seen: list[Progress] = []
    with running_emulator(EmulatorConfig()) as emu:
        table = new_table(tmp_path / "batch", 2)
        session = open_session(settings_for(emu), table, prompts(2), progress=seen.append, endpoint="slow")
        try:
            session.budget.on_rate_limited(300.0, poll=False)  # a create's 429 asked for five minutes
            session.runner.report_progress(2, time.monotonic())
        finally:
            await session.aclose()
    [after] = seen
    assert isinstance(after, HeldProgress)
    [hold] = after.held
    assert (hold.by, hold.endpoint) == ("creates", "slow")
    out = io.StringIO()
    lines(Console(file=out, width=400), clock=FakeClock(0.0), every=0.0)(after)
    assert re.search(r"  creates paused \d:\d\d at endpoint 'slow' \(429 retry-after\)", out.getvalue())
