"""A Parquet file pandas wrote from a frame with a named index (`df.set_index("ticket_id").to_parquet(path)`)
holds the ticket ids, and the CLI reads them as a column, as `run_batch` does the frame's (reading 6):
they were dropped, so `--template "{ticket_id}: ..."` and `--id-column ticket_id` were refused, and an
output could not be joined back. Against the emulator over a real socket, through the CLI.

A batch planned by reading 5, which left the index out, keeps every row's key (without an id column the
prompt is the key, and no prompt of it could name the index): resumed, no row is sent again, and the
server's jobs per row are each row's counts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.dataset.readings import ARROW_NESTED_AS_JSON, READING, SHOWN_AS_DATA
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of

ROWS = 4
IDS = [f"T-{i}" for i in range(ROWS)]


def _tickets() -> pd.DataFrame:
    """Tickets indexed by their ids, as `pd.read_csv("tickets.csv").set_index("ticket_id")` gives them,
    with a count missing in one row (a column an earlier reading, 1, read otherwise)."""
    frame = pd.DataFrame(
        {
            "ticket_id": IDS,
            "subject": [f"order {i} late" for i in range(ROWS)],
            "replies": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )
    return frame.set_index("ticket_id")


def _sent(emulator: RunningEmulator) -> list[str]:
    return sorted(record.body["input"] for record in emulator.emulator.records.values())


def _each_row_paid_once(state: Path, emulator: RunningEmulator) -> None:
    rows = load(state)
    assert (rows["status"] == "completed").all()
    jobs, unanswered = jobs_of(emulator.url)
    assert dict(jobs) == dict.fromkeys(rows["row_key"], 1)  # the server's jobs, row by row
    assert rows["attempts"].tolist() == [1] * ROWS
    assert_every_job_is_paid_for(rows, jobs, unanswered)


@pytest.mark.parametrize(
    ("template", "id_column"),
    [("{ticket_id}: {subject} ({replies})", "ticket_id"), ("{subject}", None)],
)
def test_a_frames_parquet_file_keeps_its_index_as_a_column(
    prefect_env: dict[str, str],
    prefect_api: str,
    tmp_path: Path,
    emulator: RunningEmulator,
    template: str,
    id_column: str | None,
) -> None:
    source = tmp_path / "df.parquet"
    _tickets().to_parquet(source)
    output = tmp_path / "out.parquet"
    command = ["run", str(source), "--template", template, "--output", str(output)]
    command += [] if id_column is None else ["--id-column", id_column]
    states = tmp_path / "states"  # the default state: earlier readings' batches are looked for
    result = rowrelay(command, env_for(prefect_env, emulator, ROWRELAY_STATE_DIR=str(states)))
    assert result.returncode == 0, result.stderr[-3000:]
    [state] = states.iterdir()
    written = pd.read_parquet(output)
    assert written["ticket_id"].tolist() == IDS  # the results join back to the tickets
    assert written.columns[0] == "ticket_id"  # where `reset_index` puts it, as for the frame
    if id_column is not None:
        assert set(load(state)["row_key"]) == set(IDS)
        assert _sent(emulator) == ["T-0: order 0 late (1)", "T-1: order 1 late ()", "T-2: order 2 late (3)",
                                   "T-3: order 3 late (4)"]  # fmt: skip
    _each_row_paid_once(state, emulator)
    assert json.loads((state / "run.json").read_text())["reading"] == READING


@pytest.mark.parametrize("state", ["default", "given"])
async def test_a_batch_reading_5_planned_is_resumed_under_its_keys_and_nothing_is_paid_twice(
    prefect_env: dict[str, str],
    prefect_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
    state: str,
) -> None:
    """Planned by the release before (this code with reading 5) from the file, two rows sent, then resumed
    by the CLI: the same batch (its default state directory is named by its rows' keys), each of its rows
    paid once, and the output now holds the ids."""
    from rowrelay.flows import input_reading
    from rowrelay.flows.batch import run_batch

    source = tmp_path / "df.parquet"
    _tickets().to_parquet(source)
    states = tmp_path / "states"
    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(states))
    given = None if state == "default" else tmp_path / "state"
    output = tmp_path / "out.parquet"
    arguments = {"template": "{subject}", "output": str(output), "backend": "emulator"}
    with monkeypatch.context() as earlier:
        earlier.setattr(input_reading, "READING", ARROW_NESTED_AS_JSON)
        first = await run_batch(
            str(source), **arguments, state=given and str(given), limit=2, base_url=emulator.url
        )
    planned = Path(first.state_dir)
    assert json.loads((planned / "run.json").read_text())["reading"] == ARROW_NESTED_AS_JSON
    assert "ticket_id" not in pd.read_parquet(output).columns  # as that release wrote it
    keys = set(load(planned)["row_key"])

    command = ["run", str(source), "--template", "{subject}", "--output", str(output)]
    command += [] if given is None else ["--state", str(given)]
    result = rowrelay(command, env_for(prefect_env, emulator, ROWRELAY_STATE_DIR=str(states)))
    assert result.returncode == 0, result.stderr[-3000:]
    if given is None:
        assert list(states.iterdir()) == [planned]  # no second batch beside it
    else:
        assert not states.exists()
    assert set(load(planned)["row_key"]) == keys
    _each_row_paid_once(planned, emulator)
    assert pd.read_parquet(output)["ticket_id"].tolist() == IDS


@pytest.mark.parametrize("reading", [READING, ARROW_NESTED_AS_JSON, SHOWN_AS_DATA])
async def test_a_frames_batch_exports_from_the_frame_saved_to_parquet(
    prefect_env: dict[str, str],
    prefect_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
    reading: int,
) -> None:
    """The recipe rowrelay's own refusal gives for a DataFrame's batch: `frame.to_parquet(PATH)`, then
    `rowrelay export STATE --input PATH`; for a batch this release planned, and for those readings 4 and 5
    planned (their record names their reading, which left a file's index out)."""
    from rowrelay.flows import input_reading
    from rowrelay.flows.batch import run_batch

    frame = _tickets()
    state = tmp_path / "state"
    with monkeypatch.context() as earlier:
        earlier.setattr(input_reading, "READING", reading)
        report = await run_batch(
            frame, template="{ticket_id}: {subject}", id_column="ticket_id", state=str(state),
            output=str(tmp_path / "out.parquet"), backend="emulator", base_url=emulator.url,
        )  # fmt: skip
    assert report.counts["completed"] == ROWS
    assert json.loads((state / "run.json").read_text())["reading"] == reading
    env = env_for(prefect_env, emulator)
    refused = rowrelay(["export", str(state), "--output", str(tmp_path / "x.parquet")], env)
    assert refused.returncode == 2
    assert "frame.to_parquet(PATH)" in refused.stderr
    saved = tmp_path / "df.parquet"
    frame.to_parquet(saved)
    exported = tmp_path / "exported.parquet"
    result = rowrelay(["export", str(state), "--input", str(saved), "--output", str(exported)], env)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pq.read_table(exported)
    assert table.column("ticket_id").to_pylist() == IDS
    assert table.column("output_text").null_count == 0  # every row found its result
    _each_row_paid_once(state, emulator)
