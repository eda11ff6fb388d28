"""A caller's progress sink that raises is warned of once and the run goes on. The runner tells progress
from the same housekeeping task that checkpoints the table and refreshes the lease's heartbeat: a raising
sink ended that task, so a long run's lease went stale (another command took it over, and the run failed
with LeaseHeldError and wrote no output) and a short one finished its rows, then raised the sink's error
instead of exporting them."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run import Progress
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import flow_args
from tests.support.said import Said
from tests.support.tickets import write_tickets

_ROWS = 4


async def test_a_sink_that_always_raises_is_warned_of_once_and_the_batch_completes_and_exports(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.processing import progress_sink

    told: list[Progress] = []

    def broken_bar(progress: Progress) -> None:
        told.append(progress)
        raise RuntimeError("my progress bar broke")

    source = write_tickets(tmp_path / "tickets.csv", _ROWS)
    said = Said()
    logging.getLogger("rowrelay.flow").addHandler(said)
    sink = progress_sink.set(broken_bar)
    try:
        # Responses that work two seconds: the housekeeping task reports progress several times meanwhile
        with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:2"))) as emu:
            result = await run_batch(str(source), **flow_args(tmp_path, emu))
            jobs, unanswered = jobs_of(emu.url)
    finally:
        progress_sink.reset(sink)
        logging.getLogger("rowrelay.flow").removeHandler(said)

    assert result.all_completed
    output = pd.read_parquet(result.output)
    assert (output["rowrelay_status"] == "completed").tolist() == [True] * _ROWS
    table = load(tmp_path / "state")
    assert_every_job_is_paid_for(table, jobs, unanswered)
    assert sum(jobs.values()) == _ROWS  # one job per row: nothing was sent again
    warned = [message for message in said.messages if message.startswith("progress_sink")]
    assert warned == [
        "progress_sink raised RuntimeError: my progress bar broke (its errors are ignored: the run goes on)"
    ]
    # Told again after its first error, while rows were still working: the housekeeping task, which
    # checkpoints and beats the lease's heartbeat, outlived the sink's error.
    assert sum(1 for progress in told if progress.in_flight > 0) >= 2
