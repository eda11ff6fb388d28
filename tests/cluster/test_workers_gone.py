"""A Dask run whose cluster loses every worker for good stops, where it waited for ever: twice under load
a `--dask-workers` run's workers were all gone (the scheduler logging "Received heartbeat from
unregistered worker"), and the run sat at 0 of 120 rows until the test's 400 s timeout, holding its
batch's lease and saying nothing. Here a run on an existing cluster (`--dask ADDRESS`,
tests/support/dask_cluster.py) has both workers closed mid-run with their nannies (the cluster scaled to
none), so that none comes back; the bound is made short through its setting. The run says it waits
for a worker, then stops in one line, exit 1, and the same command on a cluster with workers completes
every row, each job the server started counted on its row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.errors import WorkersGoneError
from rowrelay.tasks.state import load
from tests.support.cli import exit_code, rowrelay, run_args
from tests.support.dask_cluster import SharedClusters, shared_clusters
from tests.support.dask_runs import assert_finished_and_paid_for, env_on, holding, started, wait_until
from tests.support.emulator_process import emulator_process
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
BOUND = 3.0


@pytest.fixture(scope="module")
def clusters(prefect_env: dict[str, str]) -> Iterator[SharedClusters]:
    with shared_clusters(prefect_env) as running:
        yield running


def test_a_run_whose_cluster_lost_every_worker_stops_and_resumes(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    rows = 40
    source = write_tickets(tmp_path / "tickets.csv", rows)
    state, log = tmp_path / "state", tmp_path / "run.log"
    cluster, _workers = clusters.ready()
    with emulator_process("--latency", "fixed:5") as emu:
        env = env_on(prefect_env, emu)
        # a few rows in flight at a time, 5 s each: the batch would take some 40 s, most rows unsent
        args = [*run_args(source, tmp_path), "--max-in-flight", "4"]
        gone_env = {**env, "ROWRELAY_DASK_NO_WORKERS_AFTER": str(BOUND)}
        with started([*args, "--dask", cluster.address], gone_env, log) as run:
            wait_until(lambda: holding(state) >= 2, run, log)
            cluster.drop_workers()
            assert exit_code(run, log, within=300) == 1, log.read_text()[-3000:]
        said = log.read_text()
        assert "the Dask cluster has no running worker: its shards wait for one to join, up to 3 s" in said
        errors = [line for line in said.splitlines() if line.startswith("error:")]
        assert errors == [f"error: {WorkersGoneError(BOUND)}"], said[-3000:]
        assert "the same command resumes them" in errors[0]
        assert (load(state)["status"] != "completed").any()  # stopped mid-way: rows left for the resume
        clusters.close()  # a cluster without workers, none to come back
        resumed, _ = clusters.ready()
        done = rowrelay([*args, "--dask", resumed.address], env, timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        assert_finished_and_paid_for(state, emu, rows)
