"""A Parquet file whose MultiIndex has an unnamed level holding data (`names=["ticket", None]`: the lines
of each ticket) lost that level silently: the output had no lines, and its results could not be joined
back line by line. It is read as `level_1`, as pandas' `reset_index` names it. A batch the release before
planned from the file, without the level, is the same batch: resumed by the CLI, its rows keep their keys,
none is sent again, and the server's jobs per row are each row's counts. Against the emulator over a real
socket.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import given_frame
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of

ROWS = 4
TICKETS, LINES = ["T-1", "T-1", "T-2", "T-3"], ["L-1", "L-2", "L-1", "L-1"]


def _released_levels(source: pd.DataFrame | pd.Index) -> list[Hashable | None]:
    """How the release before read an index: its named levels only (given the frame, or as 29ed8b7 took
    it, the index, so that the test of a taken level also runs against that commit)."""
    return list((source.index if isinstance(source, pd.DataFrame) else source).names)


async def test_a_batch_planned_without_the_level_resumes_under_its_keys_and_the_output_gains_it(
    prefect_env: dict[str, str],
    prefect_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
) -> None:
    from rowrelay.flows.batch import run_batch

    index = pd.MultiIndex.from_arrays([TICKETS, LINES], names=["ticket", None])
    frame = pd.DataFrame({"subject": [f"part {i} missing" for i in range(ROWS)]}, index=index)
    frame.to_parquet(source := tmp_path / "lines.parquet")
    states, output = tmp_path / "states", tmp_path / "out.parquet"
    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(states))
    arguments = {"template": "{ticket}: {subject}", "output": str(output), "backend": "emulator"}
    with monkeypatch.context() as released:
        released.setattr(given_frame, "index_levels", _released_levels, raising=False)
        first = await run_batch(str(source), **arguments, limit=2, base_url=emulator.url)
    planned = Path(first.state_dir)
    assert "level_1" not in pd.read_parquet(output).columns  # as that release wrote it
    keys = set(load(planned)["row_key"])

    command = ["run", str(source), "--template", "{ticket}: {subject}", "--output", str(output)]
    result = rowrelay(command, env_for(prefect_env, emulator, ROWRELAY_STATE_DIR=str(states)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(states.iterdir()) == [planned]  # the same batch, not a second one beside it
    rows = load(planned)
    assert set(rows["row_key"]) == keys
    assert (rows["status"] == "completed").all()
    jobs, unanswered = jobs_of(emulator.url)
    assert dict(jobs) == dict.fromkeys(rows["row_key"], 1)  # the server's jobs, row by row
    assert rows["attempts"].tolist() == [1] * ROWS
    assert_every_job_is_paid_for(rows, jobs, unanswered)
    written = pd.read_parquet(output)
    assert written["ticket"].tolist() == TICKETS
    assert written["level_1"].tolist() == LINES  # the results join back line by line


async def test_a_batch_planned_before_from_a_level_whose_name_a_column_has_resumes_without_it(
    prefect_env: dict[str, str],
    prefect_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
) -> None:
    """Such a file's unnamed level was left out by every release before 29ed8b7, which then refused the
    file (exit 2), so the batch could not be resumed: the level is left out again, said once, and the
    batch resumes under its keys, its column `level_1` the column's, each row's jobs its attempts."""
    from rowrelay.flows.batch import run_batch

    index = pd.MultiIndex.from_arrays([TICKETS, LINES], names=["ticket", None])
    notes = [f"note {i}" for i in range(ROWS)]
    frame = pd.DataFrame({"subject": [f"part {i}" for i in range(ROWS)], "level_1": notes}, index=index)
    frame.to_parquet(source := tmp_path / "taken.parquet")
    states, output = tmp_path / "states", tmp_path / "out.parquet"
    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(states))
    template = "{ticket}: {subject} ({level_1})"
    arguments = {"template": template, "output": str(output), "backend": "emulator"}
    with monkeypatch.context() as released:
        released.setattr(given_frame, "index_levels", _released_levels, raising=False)
        first = await run_batch(str(source), **arguments, limit=2, base_url=emulator.url)
    planned = Path(first.state_dir)
    keys = set(load(planned)["row_key"])

    command = ["run", str(source), "--template", template, "--output", str(output)]
    result = rowrelay(command, env_for(prefect_env, emulator, ROWRELAY_STATE_DIR=str(states)))
    assert result.returncode == 0, result.stderr[-3000:]
    said = f"{source}: the index's unnamed level 1 (level_1), whose name a column or another level"
    assert result.stderr.count(said) == 1, result.stderr[-3000:]
    assert list(states.iterdir()) == [planned]  # the same batch, not a second one beside it
    rows = load(planned)
    assert set(rows["row_key"]) == keys
    assert (rows["status"] == "completed").all()
    jobs, unanswered = jobs_of(emulator.url)
    assert dict(jobs) == dict.fromkeys(rows["row_key"], 1)  # the server's jobs, row by row
    assert rows["attempts"].tolist() == [1] * ROWS
    assert_every_job_is_paid_for(rows, jobs, unanswered)
    written = pd.read_parquet(output)
    assert written["ticket"].tolist() == TICKETS
    assert written["level_1"].tolist() == notes  # the column's, as before
