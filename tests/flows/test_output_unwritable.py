"""An output that cannot be written when the run ends (a full disk, its folder gone read-only): every row
is paid for and kept in the state table, so the run says so in one line and how to write the output
(`rowrelay export STATE`), where it ended in three tracebacks, exit 1, with nothing saying the results
were safe (a trial's disk filled as the output was written)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import OutputWriteError
from rowrelay.tasks.state import load
from tests.support.cli import holds_tokens
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.inspection import eventually, reading
from tests.support.runs import flow_args

ROWS = 4


async def test_a_run_whose_output_cannot_be_written_says_the_rows_are_kept_and_export_writes_them(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    folder = tmp_path / "out"
    folder.mkdir()
    frame = pd.DataFrame({"ticket_id": [f"T-{i}" for i in range(ROWS)], "body": ["printer jam"] * ROWS})
    clock = ManualClock()
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        args = flow_args(tmp_path, emu, template="{body}", output=str(folder / "out.csv"))
        run = asyncio.ensure_future(run_batch(frame, **args))
        state = Path(args["state"])
        await eventually(reading(lambda: holds_tokens(state, ROWS)), bool)
        shutil.rmtree(folder)
        folder.write_text("where the output's folder was: it cannot be written now")
        clock.advance(31)  # the responses end, and the run writes its output
        with pytest.raises(OutputWriteError) as stopped:
            await run
        jobs, unanswered = jobs_of(emu.url)
    said = str(stopped.value)  # naming the batch's own state directory, from Python too
    assert said.startswith(f"could not write the output {folder / 'out.csv'} (")
    assert said.endswith(
        f"every row's result is kept in the batch's state table: `rowrelay export {state}` writes it once "
        "there is room (nothing is sent again)"
    )
    rows = load(state)
    assert (rows["status"] == "completed").all()
    assert_every_job_is_paid_for(rows, jobs, unanswered)

    folder.unlink()  # room again: export writes what the run could not (the frame saved is its input)
    frame.to_csv(tmp_path / "frame.csv", index=False)
    exported = CliRunner().invoke(app, ["export", str(state), "--input", str(tmp_path / "frame.csv")])
    assert exported.exit_code == 0, exported.stderr
    assert (pd.read_csv(folder / "out.csv")["rowrelay_status"] == "completed").all()
