"""Many rows in flight at once: the poll budget holds over all of them, every job the server started is
counted on its row and every row completes, and a cancelled run cancels every response the server
holds, with more rows waiting than go on the wire at once.

Timing is on the loop's virtual clock (`tests/support/virtual_time.py`): the budget is a bucket over the
loop's time, so polls the server counted are checked against the virtual seconds the run took.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm.bank import POLL_BURST_SECONDS
from rowrelay.tasks.run.submit import SENDING
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.runs import cancel_midway, creates_per_row, run_batch
from tests.support.virtual_time import run_in_virtual_time

RETRIEVE = "GET /v1/responses/{response_id}"


def test_a_small_poll_budget_holds_over_many_rows_in_flight_and_every_job_is_counted(tmp_path: Path) -> None:
    rows, poll_rpm = 300, 60  # one poll a second, at most a second's worth at once
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.2"), seed=5)) as emu:

        async def main() -> float:
            loop = asyncio.get_running_loop()
            started = loop.time()
            # A long request timeout: the virtual clock jumps while a request is on the wire. Every row
            # polled (none followed on its create's stream), so the poll budget is what binds.
            report = await run_batch(
                emu, tmp_path / "batch", rows, max_in_flight=rows, poll_rpm=poll_rpm, request_timeout=10_000,
                poll_streams=0,
            )  # fmt: skip
            assert report.counts == {"completed": rows}
            return loop.time() - started

        elapsed = run_in_virtual_time(main)
        polls = emu.emulator.routes[RETRIEVE]
        assert polls >= rows  # every row was seen running at least once: the budget was what bound
        burst = max(1.0, poll_rpm * POLL_BURST_SECONDS / 60)
        assert polls <= burst + elapsed * poll_rpm / 60 + 1
        jobs = Counter(creates_per_row(emu))
    frame = load(tmp_path / "batch")
    assert len(jobs) == rows
    assert (frame["status"] == "completed").all()
    assert frame["response_id"].is_unique
    # The virtual clock can jump past the client's fixed 5 s connect timeout while a create is on the
    # wire (the emulator runs in real time): such a create is maybe created and sent again. What must
    # hold is the rule: every job the server started is an attempt its row counted, extras as orphans.
    assert_every_job_is_paid_for(frame, jobs, Counter())


async def test_cancelling_a_run_with_more_rows_than_go_on_the_wire_cancels_every_held_response(
    tmp_path: Path,
) -> None:
    rows = SENDING + 200
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:

        def half_held() -> bool:
            return len(emu.emulator.listing()) >= rows // 2

        await cancel_midway(emu, tmp_path / "batch", rows, half_held, max_in_flight=rows)
        held = emu.emulator.listing()
        assert {r["status"] for r in held} == {"cancelled"}
    frame = load(tmp_path / "batch")
    cancelled = frame[frame["status"] == "cancelled"]
    assert set(cancelled["response_id"]) == {r["id"] for r in held}
    assert set(frame["status"]) <= {"cancelled", "pending"}
