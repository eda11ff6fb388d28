"""The progress line says when creates wait on --rpm, as it did on --tpm: the wait told is the line's.

A user trial's 1,000 rows at --rpm 300: the create at the front of the line waited 0.2 s each time, never
the 2 s a wait must last to be said (`holds.TOLD_WAIT`), while the rows behind it, holding their in-flight
slots, waited up to 40 s; the progress line said nothing held the run back. Timed on a virtual clock."""

from __future__ import annotations

import asyncio

import pytest

from rowrelay.tasks.llm.budget import RateBudget
from rowrelay.tasks.llm.estimates import OutputEstimate
from rowrelay.tasks.llm.holds import Hold
from tests.support.virtual_time import run_in_virtual_time

EXACT = 1e-9  # float rounding of the clock's sums, not a timing window


def _budget(rpm: int = 10_000, tpm: int = 10_000_000) -> RateBudget:
    return RateBudget(rpm=rpm, tpm=tpm, poll_rpm=10_000, max_in_flight=200, output=OutputEstimate(64))


async def _line(budget: RateBudget, creates: int, prompt: int = 10) -> tuple[tuple[Hold, ...], float, float]:
    """What holds creates back 1 s after `creates` asked at once, that moment, and when the last went."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    went: list[float] = []

    async def create() -> None:
        await budget.acquire_create(prompt)
        went.append(loop.time() - start)

    line = [asyncio.create_task(create()) for _ in range(creates)]
    await asyncio.sleep(1.0)
    told = budget.held()
    await asyncio.gather(*line)
    return told, 1.0, max(went)


def test_creates_held_by_the_rpm_are_told_with_how_long_the_line_waits() -> None:
    told, at, last = run_in_virtual_time(lambda: _line(_budget(rpm=300), 50))
    # 5 creates a second after a burst of 2.5: the 50th goes at 9.5 s, 8.5 s after the moment told
    assert last == pytest.approx(9.5, abs=EXACT)
    assert told == (Hold("requests", pytest.approx(last - at, abs=0.2 + EXACT), "--rpm"),)  # type: ignore[arg-type]


def test_creates_held_by_the_tpm_are_told_the_same_way() -> None:
    # 74 tokens a create at 1,480/min: 20 creates a minute, one every 3 s, and 6 waiting behind
    told, at, last = run_in_virtual_time(lambda: _line(_budget(tpm=1480), 8))
    assert told == (Hold("tokens", pytest.approx(last - at, abs=3.0 + EXACT), "--tpm"),)  # type: ignore[arg-type]


def test_a_short_line_that_goes_within_the_told_wait_is_not_said() -> None:
    told, _, last = run_in_virtual_time(lambda: _line(_budget(rpm=300), 12))
    assert last < 1.0 + 2.0  # the rest of it goes within 2 s: not worth saying
    assert told == ()


def test_nothing_is_told_once_the_line_has_gone() -> None:
    async def main() -> tuple[Hold, ...]:
        budget = _budget(rpm=300)
        await _line(budget, 50)
        return budget.held()

    assert run_in_virtual_time(main) == ()


def test_nothing_is_told_once_the_creates_waiting_were_cancelled() -> None:
    """A stop cancels the creates waiting for the budget: no line waits any more."""

    async def main() -> tuple[tuple[Hold, ...], tuple[Hold, ...]]:
        budget = _budget(rpm=300)
        line = [asyncio.create_task(budget.acquire_create(10)) for _ in range(50)]
        await asyncio.sleep(1.0)
        before = budget.held()
        for create in line:
            create.cancel()
        await asyncio.gather(*line, return_exceptions=True)
        return before, budget.held()

    before, after = run_in_virtual_time(main)
    assert [hold.by for hold in before] == ["requests"]
    assert after == ()
