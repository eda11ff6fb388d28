"""A run stopped by an error after rows completed writes its output and says where, under its one line.

A trial's two-endpoint run, one endpoint down, stopped on `--give-up-after` (exit 1) with 14 rows
completed, and paid for, on the other: no output was written, and the command said only its `error:`
line. Likewise a run stopped by an answer that is not the API's. Now the output holds every row as it
stands, the completed rows' answers as the state has them, and the line after the error says where it
is, what it holds and where the state is; from Python the error carries the same line as a note. The
real CLI, the real emulator over a socket, a dark port and a web page where the API should be.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.flows.batch import run_batch
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.llm import NotTheApiError
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.tickets import TEMPLATE, write_tickets
from tests.support.web_page import web_page_server

pytestmark = [pytest.mark.timeout(300)]


def _said_after_the_error(stderr: str) -> tuple[str, str]:
    """The `error:` line and the one after it: nothing else comes between them."""
    lines = stderr.splitlines()
    errors = [at for at, line in enumerate(lines) if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert errors[0] + 1 < len(lines), stderr[-3000:]
    return lines[errors[0]], lines[errors[0] + 1]


def _assert_output_is_the_state(output: Path, state: Path) -> pd.Series:
    """The output holds every row with its status as the state has it, each completed row's answer the
    state's; returns the statuses by row key."""
    written = {row["ticket_id"]: row for row in pd.read_csv(output, keep_default_na=False).to_dict("records")}
    frame = load(state)
    assert sorted(written) == sorted(frame["row_key"])
    for row in frame.to_dict("records"):
        said = written[row["row_key"]]
        assert said["rowrelay_status"] == row["status"], row["row_key"]
        if row["status"] == "completed":
            assert said["output_text"] == row["output_text"] != "", row["row_key"]
    statuses: pd.Series = frame["status"]
    return statuses


def test_an_outage_on_one_endpoint_writes_the_rows_the_other_completed(
    tmp_path: Path, prefect_env: dict[str, str], dark_address: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 8)
    with running_emulator(EmulatorConfig()) as east:
        entries = [
            {"name": "east", "backend": "emulator", "base_url": east.url, "rpm": 600},
            {"name": "down", "backend": "emulator", "base_url": f"{dark_address}/v1", "rpm": 600},
        ]
        endpoints = tmp_path / "endpoints.json"
        endpoints.write_text(json.dumps(entries))
        args = [*run_args(source, tmp_path), "--endpoints", str(endpoints), "--give-up-after", "2"]
        done = rowrelay(args, prefect_env)
    assert done.returncode == 1, done.stderr[-3000:]  # as before
    error, after = _said_after_the_error(done.stderr)
    assert error.startswith("error: endpoint 'down': the server has answered no request for 2 s"), error
    statuses = _assert_output_is_the_state(tmp_path / "out.csv", tmp_path / "state")
    completed = int((statuses == "completed").sum())
    assert completed >= 1, statuses  # east's rows, at zero latency, long before the 2 s
    assert set(statuses) <= {"completed", "pending"}, statuses  # the dark endpoint's rows spent nothing
    pending = len(statuses) - completed
    counts = f"{completed} completed" + (f", {pending} pending" if pending else "")
    assert after == (
        f"output: {tmp_path / 'out.csv'} (written as the run stopped: {counts})   state: {tmp_path / 'state'}"
    )


def test_an_answer_that_is_not_the_apis_writes_the_completed_rows_from_the_cli_and_says_so_from_python(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 6)
    output, state = tmp_path / "out.csv", tmp_path / "state"
    with running_emulator(EmulatorConfig()) as emu:
        first = rowrelay([*run_args(source, tmp_path), "--limit", "3"], env_for(prefect_env, emu))
    assert first.returncode == 0, first.stderr[-3000:]
    output.unlink()  # the stopped run's own, or none
    with web_page_server() as (page, _served):
        env = {**prefect_env, "ROWRELAY_BACKEND": "emulator", "ROWRELAY_BASE_URL": page}
        done = rowrelay(run_args(source, tmp_path), env)
    assert done.returncode == 2, done.stderr[-3000:]  # as before: the address is the user's to fix
    error, after = _said_after_the_error(done.stderr)
    assert "which is not the API's answer" in error, error
    assert after.startswith(f"output: {output} (written as the run stopped: 3 completed, "), after
    assert after.endswith(f")   state: {state}"), after
    statuses = _assert_output_is_the_state(output, state)
    assert int((statuses == "completed").sum()) == 3

    # From Python the error says the same on itself, and the output is written again.
    output.unlink()
    args = {"template": TEMPLATE, "id_column": "ticket_id", "state": str(state), "output": str(output)}
    with web_page_server() as (page, _served), pytest.raises(NotTheApiError) as raised:
        asyncio.run(run_batch(str(source), **args, backend="emulator", base_url=page))
    written = f"output: {output} (written as the run stopped: 3 completed"
    assert any(note.startswith(written) for note in getattr(raised.value, "__notes__", [])), raised.value
    assert int((_assert_output_is_the_state(output, state) == "completed").sum()) == 3
