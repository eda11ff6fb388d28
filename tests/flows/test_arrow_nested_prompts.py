"""A Parquet file read with `dtype_backend="pyarrow"` and handed to `run_batch` as a DataFrame, against the
emulator over a real socket: its nested columns are sent as the JSON text the file itself sends (they
were sent as `[1 2]`, `{'x': 1, 'y': 'q'}`, `[('k', 1)]`), so the file and the frame are one batch, and a
run over the file after the frame's sends no row again."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import EARLIER_READINGS
from rowrelay.tasks.dataset.readings import SHOWN_AS_DATA
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.nested_columns import write_nested
from tests.support.said import Said


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


@pytest.mark.parametrize("state", ["default", "given"])
async def test_a_frames_batch_planned_before_keeps_its_prompts_and_nothing_is_sent_again(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: RunningEmulator, state: str
) -> None:
    """Planned by the release before (reading 4), which sent such a frame's reprs: resumed with that
    reading, its rows keep their keys (no id column: the prompt is the key), and none is sent again. Read
    anew, every row was a row of another batch (its default state) or not in the batch (a given one)."""
    from rowrelay.flows import input_reading
    from rowrelay.flows.batch import run_batch

    frame = pd.read_parquet(write_nested(tmp_path / "nested.parquet"), dtype_backend="pyarrow")
    states = tmp_path / "states"
    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(states))
    arguments = {
        "template": "{lst} | {st} | {mp} | {tags}",
        "state": None if state == "default" else str(tmp_path / "state"),
        "output": str(tmp_path / "out.parquet"),
        "backend": "emulator",
        "base_url": emulator.url,
    }
    with monkeypatch.context() as earlier:
        earlier.setattr(input_reading, "READING", SHOWN_AS_DATA)
        first = await run_batch(frame, **arguments, limit=2)
    planned = set(load(first.state_dir)["row_key"])
    assert "[1. 2.] | {'x': 1, 'y': 'q'} | [('k', 1)] | ['a' 'b']" in {
        record.body["input"] for record in emulator.emulator.records.values()
    }  # the reprs, as that release sent them
    said = Said()
    logging.getLogger("rowrelay.input").addHandler(said)  # Prefect's logging setup drops caplog's
    try:
        again = await run_batch(frame, **arguments)
    finally:
        logging.getLogger("rowrelay.input").removeHandler(said)
    assert (again.state_dir, again.counts["completed"]) == (first.state_dir, 3)
    if state == "default":
        assert [path.name for path in states.iterdir()] == [Path(first.state_dir).name]
    rows = load(first.state_dir)
    assert set(rows["row_key"]) == planned
    jobs, unanswered = jobs_of(emulator.url)
    assert sorted(jobs.values()) == [1, 1, 1]
    assert_every_job_is_paid_for(rows, jobs, unanswered)
    assert f"which read {EARLIER_READINGS[SHOWN_AS_DATA]}" in " ".join(said.messages)
