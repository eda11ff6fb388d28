"""A gateway that answers creates with its 502 page for a while (nginx while the server behind it
restarts). Each such create may have reached the server, so it spends an attempt and counts a possible
duplicate on its row; sent again at once, every row spent all its attempts within seconds (a trial: 30
rows, 90 creates in 10 s, all orphaned, no job on the server). Creates are held back instead: one at a
time, after a pause that grows with each one lost, the rows taking turns (`run.outage.CreateHold`)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.llm.holds import Hold
from rowrelay.tasks.run import Progress, open_session
from rowrelay.tasks.run.holding import HeldProgress
from rowrelay.tasks.run.outage import CreateHold
from rowrelay.tasks.state import load
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.inspection import eventually, reading
from tests.support.runs import new_table, prompts, running, settings_for
from tests.support.virtual_time import run_in_virtual_time

ROWS = 6


async def test_a_gateway_down_for_a_while_costs_the_rows_a_few_attempts_not_all_of_them(
    tmp_path: Path,
) -> None:
    clock = ManualClock()  # the gateway's upstream is back when the test moves it past `down_for`
    with running_emulator(EmulatorConfig(down_for=60.0), clock=clock) as emu:
        table = new_table(tmp_path / "batch", ROWS)
        told: list[tuple[Hold, ...]] = []  # what held calls back, at each progress moment

        def progress(update: Progress) -> None:
            told.append(update.held if isinstance(update, HeldProgress) else ())

        session = open_session(settings_for(emu, max_attempts=3), table, prompts(ROWS), progress=progress)

        def lost() -> int:
            return int(emu.emulator.stats()["status_codes"].get("502", 0))

        seen: list[int] = []

        def settled(count: int) -> bool:
            """Two more after the rows' first creates, and no other since the look before."""
            seen.append(count)
            return count >= ROWS + 2 and seen[-2:] == [count, count]

        async with running(session, table) as run:
            # Every row's first create went before any answer was lost; then one at a time, a second and
            # more apart. (Sent again at once, every row spent all its attempts within moments.)
            await eventually(reading(lost), settled)
            # ... and the progress line says so while it lasts (in one warning alone, a run sending one
            # create a minute read as stalled).
            said = await eventually(reading(lambda: told[-1]), lambda held: bool(held))
            clock.advance(60.0)
            report = await asyncio.wait_for(run, timeout=120)
        started, unanswered = jobs_of(emu.url)
        pages = lost()
    frame = load(tmp_path / "batch")
    assert pages <= ROWS + 3  # the burst, the probes lost, and at most one more under way
    assert report.counts == {"completed": ROWS}, frame[["status", "attempts", "orphans"]]
    assert set(started.values()) == {1}  # nothing started behind the gateway
    assert frame["orphans"].sum() == pages  # each create it answered counted on its row, as maybe sent
    assert (frame["attempts"] == frame["orphans"] + 1).all()
    assert_every_job_is_paid_for(frame, started, unanswered)
    (hold,) = said
    assert hold.by in ("creates", "one_by_one")
    assert re.fullmatch(r"\d+ create answers? lost in a row", hold.why), hold.why
    assert told[-1] == ()  # the run's closing moment: the first create answered let them all go


def test_creates_go_one_at_a_time_in_line_after_growing_pauses_until_one_is_answered() -> None:
    """On a virtual clock: the loss of three creates in flight together is one loss (a pause of 1 s);
    then one create goes at a time, the first in line, each lost one doubling the pause; the first
    answered lets every create waiting go at once."""

    async def main() -> list[tuple[float, str, bool]]:
        loop = asyncio.get_running_loop()
        hold, went = CreateHold(lambda lost: 2.0 ** (lost - 1)), []
        started = loop.time()

        async def create(name: str, outcomes: list[bool]) -> None:
            for answered in outcomes:
                async with hold.turn() as turn:
                    went.append((loop.time() - started, name, turn.probe))
                    await asyncio.sleep(0.1)
                    if answered:
                        hold.answered()
                    else:
                        hold.lost(turn.probe, "server error (502)")

        await asyncio.gather(
            create("a", [False, False, True]), create("b", [False, False, True]), create("c", [False, True])
        )
        return went

    went = [(round(at, 1), name, probe) for at, name, probe in run_in_virtual_time(main)]
    assert went[:6] == [
        (0.0, "a", False), (0.0, "b", False), (0.0, "c", False),  # in flight together: one loss, 1 s
        (1.1, "a", True),  # the first in line, lost: 2 s, and in line again, last
        (3.2, "b", True),  # lost: 4 s
        (7.3, "c", True),  # answered: the rest go at once
    ]  # fmt: skip
    assert sorted(went[6:]) == [(7.4, "a", False), (7.4, "b", False)]


def test_what_the_hold_tells_the_progress_line_the_pause_left_then_one_at_a_time_then_nothing() -> None:
    """On a virtual clock: the pause left while it lasts, with the losses in a row; `one_by_one` while
    the probe is out; nothing once a create is answered."""

    async def main() -> list[Hold | None]:
        loop = asyncio.get_running_loop()
        hold = CreateHold(lambda lost: 4.0 * lost)
        told = [hold.held(loop.time())]
        hold.lost(False, "server error (502)")
        told.append(hold.held(loop.time()))
        await asyncio.sleep(1.5)
        told.append(hold.held(loop.time()))
        async with hold.turn() as turn:
            assert turn.probe
            told.append(hold.held(loop.time()))
            hold.lost(turn.probe, "server error (502)")
        told.append(hold.held(loop.time()))
        async with hold.turn() as turn:
            hold.answered()
        told.append(hold.held(loop.time()))
        return told

    assert run_in_virtual_time(main) == [
        None,
        Hold("creates", 4.0, "1 create answer lost in a row"),
        Hold("creates", 2.5, "1 create answer lost in a row"),
        Hold("one_by_one", 0.0, "1 create answer lost in a row"),  # the pause over, the probe out
        Hold("creates", 8.0, "2 create answers lost in a row"),
        None,
    ]
