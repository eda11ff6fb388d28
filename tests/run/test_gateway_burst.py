"""A gateway that answers creates with its 502 page for a while (nginx while the server behind it
restarts). Each such create may have reached the server, so it spends an attempt and counts a possible
duplicate on its row; sent again at once, every row spent all its attempts within seconds (a trial: 30
rows, 90 creates in 10 s, all orphaned, no job on the server). Creates are held back instead: one at a
time, after a pause that grows with each one lost, the rows taking turns (`run.outage.CreateHold`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.run import open_session
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
        session = open_session(settings_for(emu, max_attempts=3), table, prompts(ROWS))

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
