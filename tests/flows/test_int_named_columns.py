"""A DataFrame with int-named columns through `run_batch`, against the emulator over a real socket: its
columns are named by their strings (`prompt_column="1"` for a frame read with `header=None`), and a frame
whose columns `1` and `"1"` are alike once named so is refused before anything is sent. That frame ran, was
paid for, and wrote a Parquet output with two fields named 1 that pandas could not read."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of

HEADERLESS = "".join(f"T-{i},Ticket number {i} asks for a refund\n" for i in range(6))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
async def test_int_named_columns_run_by_their_strings_and_the_output_reads_back(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, emulator: RunningEmulator, suffix: str
) -> None:
    from rowrelay.flows.batch import run_batch

    url = emulator.url
    frame = pd.read_csv(io.StringIO(HEADERLESS), header=None)  # columns 0 and 1
    output = tmp_path / f"out{suffix}"
    result = await run_batch(frame, prompt_column="1", id_column="0", state=str(tmp_path / "state"),
                             output=str(output), backend="emulator", base_url=url)  # fmt: skip
    assert result.counts["completed"] == 6
    written = pd.read_parquet(output) if suffix == ".parquet" else pd.read_csv(output, dtype=str)
    assert [str(name) for name in written.columns[:2]] == ["0", "1"]
    assert written["0"].tolist() == [f"T-{i}" for i in range(6)]
    state = load(tmp_path / "state")
    jobs, unanswered = jobs_of(url)
    assert sorted(jobs) == sorted(state["row_key"]) == [f"T-{i}" for i in range(6)]
    assert_every_job_is_paid_for(state, jobs, unanswered)


async def test_columns_alike_as_strings_are_refused_before_anything_is_sent(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, emulator: RunningEmulator
) -> None:
    from rowrelay.flows.batch import run_batch

    url = emulator.url
    frame = pd.DataFrame({"text": ["a", "b", "c"]})
    frame[1] = ["x", "y", "z"]
    frame["1"] = ["p", "q", "r"]
    output = tmp_path / "out.parquet"
    with pytest.raises(UsageError, match=r"columns named alike once their names are strings.*1 \(int\)"):
        await run_batch(frame, template="{text}", state=str(tmp_path / "state"), output=str(output),
                        backend="emulator", base_url=url)  # fmt: skip
    assert jobs_of(url) == ({}, {})
    assert not output.exists()
