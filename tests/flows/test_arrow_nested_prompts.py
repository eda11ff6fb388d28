"""A Parquet file read with `dtype_backend="pyarrow"` and handed to `run_batch` as a DataFrame, against the
emulator over a real socket: its nested columns are sent as the JSON text the file itself sends (they
were sent as `[1 2]`, `{'x': 1, 'y': 'q'}`, `[('k', 1)]`), so the file and the frame are one batch, and a
run over the file after the frame's sends no row again."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.nested_columns import write_nested


async def test_the_frame_sends_the_file_s_text_and_the_file_resumes_it(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, emulator: RunningEmulator
) -> None:
    from rowrelay.flows.batch import run_batch

    path = write_nested(tmp_path / "nested.parquet")
    arguments = {
        "template": "{lst} | {st} | {mp} | {tags}",
        "state": str(tmp_path / "state"),
        "output": str(tmp_path / "out.parquet"),
        "backend": "emulator",
        "base_url": emulator.url,
    }
    first = await run_batch(pd.read_parquet(path, dtype_backend="pyarrow"), **arguments)
    assert first.counts["completed"] == 3
    sent = sorted(record.body["input"] for record in emulator.emulator.records.values())
    assert sent == [
        ' |  |  | ["c"]',
        '[1, 2] | {"x": 1, "y": "q"} | {"k": 1} | ["a", "b"]',
        '[3, null] | {"x": 2, "y": "r"} | {"j": 2, "é": 3} | []',
    ]
    again = await run_batch(str(path), **arguments)  # the same batch: nothing edited, nothing to send
    assert (again.batch_id, again.counts["completed"]) == (first.batch_id, 3)
    state = load(tmp_path / "state")
    jobs, unanswered = jobs_of(emulator.url)
    assert sorted(jobs.values()) == [1, 1, 1]
    assert_every_job_is_paid_for(state, jobs, unanswered)
