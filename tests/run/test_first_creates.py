"""A run's first creates go a few at a time until one create's answer is recorded (`run.first_creates`).

A bug reading every create's answer stops the run once its first rows crash alike (`run.crashed_alike`),
but at the default in flight every create of a 100-row batch had left before the first crash was read:
100 paid jobs, each recorded as maybe created and sent again by the next run. Held to a few until one
answer is recorded, the bug meets a handful of creates, not the batch.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import CrashedAlikeError
from rowrelay.tasks.run import open_session, record
from rowrelay.tasks.run.alike import ALIKE
from rowrelay.tasks.run.first_creates import FirstCreates
from rowrelay.tasks.state import load
from tests.support.crashing_cli import crashing
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import (
    creates_per_row,
    new_table,
    prompts,
    run_batch,
    running,
    settings_for,
)

ROWS = 100
IN_FLIGHT = 200
"""The default `--max-in-flight`: every row of the batch may be in flight at once."""


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_bug_meeting_every_answer_costs_a_few_creates_not_the_batch(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "accepted", crashing)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))) as emu:
        with pytest.raises(CrashedAlikeError):
            await run_batch(emu, tmp_path / "batch", rows=ROWS, mode=mode, max_in_flight=IN_FLIGHT)
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "batch")
    # The first few creates at once, and one more for each crash before the fifth stopped the run.
    assert ALIKE <= sum(started.values()) < 2 * ALIKE, started
    attempts = zip(frame["row_key"], frame["attempts"], strict=True)
    assert started == Counter({key: n for key, n in attempts if n})  # every job counted on its row
    assert_every_job_is_paid_for(frame, started, unanswered)
    assert (frame["status"] == "pending").sum() > ROWS - 2 * ALIKE


async def test_once_an_answer_is_recorded_every_create_goes_at_once(tmp_path: Path) -> None:
    """No bug: with responses of an hour, every row of the batch holds its token while the first
    responses still run, so no create waited for an answer to end."""
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:3600"))) as emu:
        table = new_table(tmp_path / "batch", ROWS)
        session = open_session(settings_for(emu, max_in_flight=IN_FLIGHT), table, prompts(ROWS))
        async with running(session, table):
            while sum(creates_per_row(emu).values()) < ROWS:  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # the emulator runs in another thread: nothing to await on
            assert all(r["status"] != "completed" for r in emu.emulator.listing())
        assert creates_per_row(emu) == Counter(dict.fromkeys(prompts(ROWS), 1))


async def test_the_first_creates_are_held_to_a_few_until_one_is_answered() -> None:
    first = FirstCreates()
    assert [await first.enter() for _ in range(ALIKE)] == [True] * ALIKE
    held = asyncio.ensure_future(first.enter())
    await asyncio.sleep(0)
    assert not held.done()  # ALIKE on their way: the next waits
    first.leave(True)  # one ended unanswered (refused, crashed): its place goes to the next
    assert await held is True
    late = [asyncio.ensure_future(first.enter()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in late)
    first.answered()  # an answer recorded: every create goes, and is not counted among the first
    assert await asyncio.gather(*late) == [False] * 3
    assert first.on_wire == ALIKE
    first.leave(False)  # a create that went after: nothing to give back
    assert first.on_wire == ALIKE


def test_a_foreground_backend_is_never_held() -> None:
    assert asyncio.run(FirstCreates(proven=True).enter()) is False
