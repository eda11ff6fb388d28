"""`BatchResult.output` and `.state_dir` are absolute: given as the run was (`data/output/st01.parquet`),
they pointed elsewhere once a notebook changed its working directory after the run."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets


async def test_paths_given_relative_come_back_absolute_and_still_open_from_another_folder(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch

    write_tickets(tmp_path / "tickets.csv", 3)
    monkeypatch.chdir(tmp_path)
    args = flow_args(tmp_path, emulator, state="batches/st01", output="out/st01.parquet")
    result = await run_batch("tickets.csv", **args)

    (tmp_path / "elsewhere").mkdir()
    os.chdir(tmp_path / "elsewhere")  # the notebook moves on (monkeypatch restores the folder after)
    assert result.output == str((tmp_path / "out" / "st01.parquet").resolve())
    assert result.state_dir == str((tmp_path / "batches" / "st01").resolve())
    assert len(pd.read_parquet(result.output)) == 3
    assert (load(result.state_dir)["status"] == "completed").all()
