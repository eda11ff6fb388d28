"""`rowrelay export` of a batch whose input it cannot find by itself. One run from Python on a
DataFrame: the frame is in no file the batch could read again, so export asks for one, saying how to
make it, and writes the output from it as the run did. It said "this batch's input was a DataFrame or is
unknown: pass --input", which left a notebook's user with nothing to pass."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from tests.support.finished_batch import finished_batch
from tests.support.runs import flow_args


async def test_export_of_a_frames_batch_asks_for_the_frame_saved_and_writes_the_runs_output_from_it(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    frame = pd.DataFrame({"ticket_id": ["T-1", "T-2", "T-3"], "body": ["printer jam", "no wifi", "late"]})
    result = await run_batch(frame, **flow_args(tmp_path, emulator, template="{body}"))
    assert result.all_completed
    written = pd.read_parquet(result.output)

    again = tmp_path / "again.parquet"
    refused = CliRunner().invoke(app, ["export", result.state_dir, "--output", str(again)])
    assert (refused.exit_code, refused.stderr) == (
        2,
        "error: this batch's input was a DataFrame: pass --input with it saved to a file "
        "(frame.to_parquet(PATH)), or call run_batch on it again, which writes the output\n",
    )
    assert not again.exists()

    saved = tmp_path / "frame.parquet"
    frame.to_parquet(saved)
    given = CliRunner().invoke(
        app, ["export", result.state_dir, "--output", str(again), "--input", str(saved)]
    )
    assert given.exit_code == 0, given.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(again), written)


def test_export_of_a_batch_with_no_run_on_record_is_refused_saying_why(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A batch whose `run.json` is gone is no DataFrame's, and no --input helps it: how its rows were
    read from the input (the template, the id column) is on that record alone. With --input it ended in
    "no prompt: give a template ...", an option export does not have."""
    state = finished_batch(emulator, tmp_path, 2)
    (state / "run.json").unlink()
    said = (
        "error: this batch has no run on record (run.json): export reads the input as the run did, "
        "which only that record says (`rowrelay status` still reads the rows)\n"
    )
    for given in ([], ["--input", str(tmp_path / "tickets.csv")]):
        refused = CliRunner().invoke(
            app, ["export", str(state), "--output", str(tmp_path / "out.csv"), *given]
        )
        assert (refused.exit_code, refused.stderr) == (2, said)
    assert not (tmp_path / "out.csv").exists()
