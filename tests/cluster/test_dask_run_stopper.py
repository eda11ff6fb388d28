"""A run-stopping error met by one group of shards on a Dask cluster stops the whole run, as it stops a run
without a cluster (`flows.targets.run_shards`): the other groups, on any worker, are halted (their
responses go on, keeping their ids, for the next run to wait on; their rows not yet sent stay pending),
and the command says the error in its one line at once.

Before, only the failing group stopped: the coordinator waited on the groups' results in the order they
were submitted, so a group still running ahead of the failed one held the run (here, its responses of 10
minutes), the other groups went on sending, and the groups not yet started started.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from tests.support.cli import exit_code, run_args
from tests.support.dask_cluster import SharedClusters
from tests.support.dask_runs import started, statuses
from tests.support.emulator_process import emulator_process
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROWS, SHARD = 20, 5
LATENCY = 600
"""Seconds the good endpoint's responses take: the run ends long before any does, or never (the bound)."""


def test_a_model_refused_on_one_endpoint_stops_every_group(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    cluster, _workers = clusters.ready()
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    log, state = tmp_path / "run.log", tmp_path / "state"
    with (
        emulator_process("--latency", f"fixed:{LATENCY}") as good,
        emulator_process("--models", "gpt-4.1-mini") as bad,  # the bad endpoint asks another model
    ):
        endpoints = tmp_path / "endpoints.json"
        endpoints.write_text(json.dumps([
            {"name": "good", "backend": "emulator", "base_url": good.url, "rpm": 600, "max_in_flight": 4},
            {"name": "bad", "backend": "emulator", "base_url": bad.url, "rpm": 600, "model": "gpt-nope"},
        ]))  # fmt: skip
        env = {**prefect_env, "ROWRELAY_SHARD_SIZE": str(SHARD)}
        args = [*run_args(source, tmp_path), "--dask", cluster.address, "--endpoints", str(endpoints)]
        with started(args, env, log) as run:
            # Before: still running at the bound, the good endpoint's first group waited on.
            assert exit_code(run, log, within=180) == 2, log.read_text()[-3000:]
        said = log.read_text()
        errors = [line for line in said.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, said[-3000:]
        assert errors[0].startswith(
            "error: the backend refused this batch, so the run stopped: endpoint 'bad': "
        ), errors
        assert bad.get("/emulator/jobs")["data"] == []  # refused: no job started there
        jobs = statuses(good)
    frame = load(state)
    good_rows = frame[frame["endpoint"] == "good"]
    holding = good_rows["response_id"].notna()
    # The good endpoint's responses were left running, as a run without a cluster leaves them, each
    # held by its row for the next run to wait on; its rows not sent stay pending, and none was sent
    # after the stop (the endpoint's 4 in flight at most).
    assert jobs == ["in_progress"] * int(holding.sum()), (jobs, good_rows["status"].tolist())
    assert set(good_rows[holding]["status"]) <= {"queued", "in_progress"}
    assert set(good_rows[~holding]["status"]) <= {"pending"}
    assert len(jobs) <= 4
    # Every shard let go of its lease: none is left for the next run to wait out.
    assert not list((state / "leases").glob("shard-*.json")), list((state / "leases").iterdir())
