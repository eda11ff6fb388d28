"""A Dask run whose scheduler is gone stops in one line, for the same command to resume on a cluster.

Here a run on an existing cluster (`--dask ADDRESS`, tests/support/dask_cluster.py) loses its scheduler
mid-run. Killed (the cluster's process SIGKILLed, its nannies and workers with it), the run's client
loses its connection: Dask cancels the shards' futures at once and tries to reconnect for its own
timeout; before, the run then crashed in a traceback of the bank's removal from the scheduler, after
10 s more of trying to reach it, and said nothing of what to do. Stopped (SIGSTOP: its connections
open, nothing answered, as a hung scheduler), nothing in Dask fires: before, the run
sat at its last count for good, its looks for a worker blocked on the scheduler's answer. The bound is
made short through its setting."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from tests.support.cli import exit_code, rowrelay, run_args
from tests.support.dask_cluster import SharedCluster, SharedClusters, shared_clusters
from tests.support.dask_runs import assert_finished_and_paid_for, env_on, holding, started, wait_until
from tests.support.emulator_process import emulator_process
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
BOUND = 3.0
ROWS = 40


@pytest.fixture(scope="module")
def clusters(prefect_env: dict[str, str]) -> Iterator[SharedClusters]:
    with shared_clusters(prefect_env) as running:
        yield running


def test_a_run_whose_scheduler_was_killed_stops_and_resumes(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    cluster, _workers = clusters.ready()
    with emulator_process("--latency", "fixed:5") as emu:
        try:
            args = _stopped_mid_run(tmp_path, env_on(prefect_env, emu), cluster, SharedCluster.kill_scheduler)
        finally:
            clusters.close()  # its process is gone: a new cluster, as a user starts one
        resumed, _ = clusters.ready()
        done = rowrelay([*args, "--dask", resumed.address], env_on(prefect_env, emu), timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        assert_finished_and_paid_for(tmp_path / "state", emu, ROWS)


def test_a_run_whose_scheduler_answers_nothing_stops(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    cluster, _workers = clusters.ready()
    try:
        with emulator_process("--latency", "fixed:5") as emu:
            _stopped_mid_run(tmp_path, env_on(prefect_env, emu), cluster, SharedCluster.stop_scheduler)
    finally:
        cluster.kill_scheduler()
        clusters.close()
    said = (tmp_path / "run.log").read_text()
    assert f"cannot be reached: it has not answered for {BOUND:g} s" in said, said[-3000:]


def _stopped_mid_run(
    tmp_path: Path, env: dict[str, str], cluster: SharedCluster, lose: Callable[[SharedCluster], None]
) -> list[str]:
    """Start a run of ROWS rows on `cluster` (a few in flight at a time, 5 s each: most rows unsent when
    the scheduler goes), `lose` its scheduler once rows are in flight, and check the run's stop: exit 1,
    one line saying the scheduler cannot be reached and that the same command resumes, no traceback, rows
    left for a resume. Returns the run's arguments, without its --dask."""
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state, log = tmp_path / "state", tmp_path / "run.log"
    args = [*run_args(source, tmp_path), "--max-in-flight", "4"]
    gone_env = {**env, "ROWRELAY_DASK_NO_WORKERS_AFTER": str(BOUND)}
    run: subprocess.Popen[bytes]
    with started([*args, "--dask", cluster.address], gone_env, log) as run:
        wait_until(lambda: holding(state) >= 2, run, log)
        lose(cluster)
        code = exit_code(run, log, within=300)
    said = log.read_text()
    assert code == 1, said[-3000:]
    errors = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, said[-3000:]
    assert errors[0].startswith(f"error: the Dask scheduler at {cluster.address} cannot be reached"), errors
    assert "nothing is lost" in errors[0], errors
    assert "the same command resumes them once a cluster is there" in errors[0], errors
    assert "Traceback" not in said, said[-3000:]
    assert (load(state)["status"] != "completed").any()  # stopped mid-way: rows left for the resume
    return args
