"""`rowrelay run` against a server that never answers: after `--give-up-after` it stops in one line, exits
1 (rows did not complete), spends nothing, and the flow run in Prefect ends Failed, so a scheduled run's
failure notification fires instead of a run that waits for ever holding its batch. On a Dask cluster the
same: the worker's console (here the command's own stderr) leaves its tracebacks of it to Prefect's logs,
and a shard still running when the coordinator closes the cluster fails no row for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from tests.support.cli import rowrelay, run_args
from tests.support.prefect_records import flow_run_on
from tests.support.tickets import write_tickets


@pytest.mark.parametrize(
    "where", [pytest.param([], id="one process"), pytest.param(["--dask-workers", "1"], id="dask")]
)
def test_a_run_whose_server_never_answers_stops_in_one_line_and_fails_its_flow_run(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, where: list[str], dark_address: str
) -> None:
    rows = 5
    source = write_tickets(tmp_path / "tickets.csv", rows)
    env = {
        **prefect_env,
        "ROWRELAY_BACKEND": "emulator",
        "ROWRELAY_BASE_URL": f"{dark_address}/v1",  # nothing listens there
    }
    done = rowrelay([*run_args(source, tmp_path), "--give-up-after", "1.5", *where], env)
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert errors[0].startswith("error: the server has answered no request for 1.5 s (last: connection"), (
        errors
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    frame = load(tmp_path / "state")
    assert set(frame["status"]) == {"pending"}
    assert (frame["attempts"] == 0).all()
    run = asyncio.run(flow_run_on(tmp_path / "state"))
    assert run.state is not None
    assert run.state.is_failed(), run.state
