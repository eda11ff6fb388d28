"""A Dask run that can reach no worker stops in one line, exit 1, where it waited for ever, and the same
command resumes it on a cluster with workers; one whose cluster has no worker yet at its start waits for
its first. Each test runs on an existing cluster (`--dask ADDRESS`, tests/support/dask_cluster.py).

The first starts on the cluster scaled to no worker, as a SLURM, PBS or adaptive cluster is until its
batch system grants them: the start refused it after a fixed 10 s, where a run that lost its workers
mid-run waited ROWRELAY_DASK_NO_WORKERS_AFTER. Now it says at once that it waits for the first worker,
and once workers are started it completes every row. Its cluster gets its workers back for the others
(the refusal past the bound, nothing sent, is tests/flows/test_usage_errors.py's).

The others, the bound made short through its setting, lose the cluster mid-run:

- every worker, closed with its nanny (the cluster scaled to none), so that none comes back: twice under
  load a `--dask-workers` run's workers were all gone (the scheduler logging "Received heartbeat from
  unregistered worker"), and the run sat at 0 of 120 rows until the test's 400 s timeout, holding its
  batch's lease and saying nothing;
- the scheduler, killed (the cluster's process SIGKILLed, its nannies and workers with it): the run's
  client loses its connection, Dask cancels the shards' futures at once and tries to reconnect for its own
  timeout; before, the run then crashed in a traceback of the bank's removal from the scheduler, after
  10 s more of trying to reach it, and said nothing of what to do;
- the scheduler, stopped (SIGSTOP: its connections open, nothing answered, as a hung scheduler): nothing
  in Dask fires; before, the run sat at its last count for good, its looks for a worker blocked on the
  scheduler's answer.

The resumes complete every row, each job the server started counted on its row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rowrelay.tasks.errors import WorkersGoneError
from rowrelay.tasks.state import load
from tests.support.cli import exit_code, rowrelay, run_args, wait_until
from tests.support.dask_cluster import SharedCluster, SharedClusters
from tests.support.dask_runs import assert_finished_and_paid_for, env_on, holding, started
from tests.support.emulator_process import EmulatorProcess, emulator_process
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
BOUND = 3.0
ROWS = 12
FIRST_WORKER_ROWS = 8


def test_a_run_started_before_the_clusters_first_worker_waits_for_it(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    cluster, _workers = clusters.ready()
    cluster.drop_workers()  # none yet, as a batch system has granted none
    source = write_tickets(tmp_path / "tickets.csv", FIRST_WORKER_ROWS)
    log = tmp_path / "run.log"
    waits = (
        f"the Dask scheduler at {cluster.address} has no worker yet: the run waits for its first to join, "
        "up to 10 min (ROWRELAY_DASK_NO_WORKERS_AFTER sets how long; 0 waits for ever)"
    )
    with emulator_process() as emu:
        # A bound no start of a worker reaches: only the outcome is asserted.
        env = {**env_on(prefect_env, emu), "ROWRELAY_DASK_NO_WORKERS_AFTER": "600"}
        with started([*run_args(source, tmp_path), "--dask", cluster.address], env, log) as run:
            wait_until(lambda: waits in log.read_text(), run, log)
            cluster.add_workers()
            code = exit_code(run, log, within=300)
        said = log.read_text()
        assert code == 0, said[-3000:]
        assert "Traceback" not in said, said[-3000:]
        assert_finished_and_paid_for(tmp_path / "state", emu, FIRST_WORKER_ROWS)


def test_a_run_whose_cluster_lost_every_worker_stops_and_resumes(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    cluster, _workers = clusters.ready()
    with emulator_process("--latency", "fixed:5") as emu:
        args, said = _stopped_mid_run(tmp_path, env_on(prefect_env, emu), cluster, SharedCluster.drop_workers)
        assert "the Dask cluster has no running worker: its shards wait for one to join, up to 3 s" in said
        error = _the_error(said)
        assert error == f"error: {WorkersGoneError(BOUND)}", said[-3000:]
        assert "the same command resumes them" in error
        clusters.close()  # a cluster without workers, none to come back
        _resumed(tmp_path, prefect_env, emu, clusters, args)


def test_a_run_whose_scheduler_was_killed_stops_and_resumes(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    cluster, _workers = clusters.ready()
    with emulator_process("--latency", "fixed:5") as emu:
        try:
            lose = SharedCluster.kill_scheduler
            args, said = _stopped_mid_run(tmp_path, env_on(prefect_env, emu), cluster, lose)
        finally:
            clusters.close()  # its process is gone: a new cluster, as a user starts one
        _the_scheduler_cannot_be_reached(_the_error(said), cluster)
        _resumed(tmp_path, prefect_env, emu, clusters, args)


def test_a_run_whose_scheduler_answers_nothing_stops(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    cluster, _workers = clusters.ready()
    try:
        with emulator_process("--latency", "fixed:5") as emu:
            lose = SharedCluster.stop_scheduler
            _, said = _stopped_mid_run(tmp_path, env_on(prefect_env, emu), cluster, lose)
    finally:
        cluster.kill_scheduler()
        clusters.close()
    _the_scheduler_cannot_be_reached(_the_error(said), cluster)
    assert f"cannot be reached: it has not answered for {BOUND:g} s" in said, said[-3000:]


def _stopped_mid_run(
    tmp_path: Path, env: dict[str, str], cluster: SharedCluster, lose: Callable[[SharedCluster], None]
) -> tuple[list[str], str]:
    """Start a run of ROWS rows on `cluster` (four in flight at a time, 5 s each: the batch would take
    some 15 s, and at least two thirds of its rows are unsent when the cluster is lost), `lose` it once
    rows are in flight, and check the run's stop: exit 1, no traceback, rows left for a resume. Returns
    the run's arguments, without its --dask, and what it said."""
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state, log = tmp_path / "state", tmp_path / "run.log"
    args = [*run_args(source, tmp_path), "--max-in-flight", "4"]
    gone_env = {**env, "ROWRELAY_DASK_NO_WORKERS_AFTER": str(BOUND)}
    with started([*args, "--dask", cluster.address], gone_env, log) as run:
        wait_until(lambda: holding(state) >= 2, run, log)
        lose(cluster)
        code = exit_code(run, log, within=300)
    said = log.read_text()
    assert code == 1, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert (load(state)["status"] != "completed").any()  # stopped mid-way: rows left for the resume
    return args, said


def _the_error(said: str) -> str:
    """The run's one `error:` line."""
    errors = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, said[-3000:]
    return errors[0]


def _the_scheduler_cannot_be_reached(error: str, cluster: SharedCluster) -> None:
    assert error.startswith(f"error: the Dask scheduler at {cluster.address} cannot be reached"), error
    assert "nothing is lost" in error, error
    assert "the same command resumes them once a cluster is there" in error, error


def _resumed(
    tmp_path: Path,
    prefect_env: dict[str, str],
    emu: EmulatorProcess,
    clusters: SharedClusters,
    args: list[str],
) -> None:
    """The same command on a new cluster completes every row, each job the server started counted."""
    resumed, _ = clusters.ready()
    done = rowrelay([*args, "--dask", resumed.address], env_on(prefect_env, emu), timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_finished_and_paid_for(tmp_path / "state", emu, ROWS)
