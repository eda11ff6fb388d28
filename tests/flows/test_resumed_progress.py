"""A run resumed after a stop does not count the rows the stop cancelled as done while it sends them again.

A user trial stopped 3,000 rows in flight with Ctrl-C and ran the same command: its progress began at
`rows 2613/3000  cancelled 2613`, fell to `rows 0/3000` as it sent them again, and its rate read
`0.0 rows/s`, eta `-:--`, through 2,333 rows done (the rate is measured from the first line's count).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run import Progress
from rowrelay.tasks.state import load
from tests.support.runs import creates_per_row, flow_args
from tests.support.tickets import write_tickets

ROWS = 12


async def _stopped_once_in_flight(run: asyncio.Task[object], in_flight: int, seen: list[Progress]) -> None:
    """Stop `run` once a progress update shows `in_flight` rows in flight; the cap only ends a hang."""
    for _ in range(6000):
        if run.done() or any(moment.in_flight == in_flight for moment in seen):
            break
        await asyncio.sleep(0.01)
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run


async def test_a_resumed_run_counts_the_rows_its_stop_cancelled_as_not_done(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.processing import progress_sink

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    seen: list[Progress] = []
    sink = progress_sink.set(seen.append)
    try:
        # Responses that never end: the first run's stop cancels every row, and the resumed run, two rows
        # in flight at a time, leaves the other ten cancelled, to be sent again, while it looks.
        with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:3600"))) as emu:
            first = asyncio.create_task(
                run_batch(str(source), **flow_args(tmp_path, emu, max_in_flight=ROWS, rpm=60_000))
            )
            await _stopped_once_in_flight(first, ROWS, seen)
            assert set(load(tmp_path / "state")["status"]) == {"cancelled"}
            seen.clear()
            resumed = asyncio.create_task(
                run_batch(str(source), **flow_args(tmp_path, emu, max_in_flight=2, rpm=60_000))
            )
            await _stopped_once_in_flight(resumed, 2, seen)
            jobs = creates_per_row(emu)
    finally:
        progress_sink.reset(sink)
    during = [moment for moment in seen if moment.in_flight == 2]
    assert during
    assert all(moment.counts["cancelled"] >= ROWS - 2 for moment in during)
    # none of them done: the ten cancelled rows wait to be sent again (on the old code, done was 10)
    assert [moment.done for moment in during] == [0] * len(during)
    frame = load(tmp_path / "state")
    assert dict(zip(frame["row_key"], frame["attempts"], strict=True)) == dict(jobs)
