"""Ctrl-C of a run on an existing Dask cluster reaches its shards on the workers (`flows.cluster_stop`).

Dask stops no task that runs: the coordinator's cancel stopped its own wait alone, and the run said
"interrupted: in-flight responses were cancelled" while all 40 of its responses stayed in progress on the
server, its shards ran on holding their leases (the same command refused for about a minute), and they
finished rows of their own meanwhile. Now each shard cancels its in-flight responses and lets go of its
lease, as a local run's shards do, and the closing line counts what they cancelled.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from tests.support.cli import IN_PROCESS, ROOT, exit_code, run_args, wait_until
from tests.support.dask_cluster import SharedClusters
from tests.support.dask_runs import env_on, in_flight, started, statuses
from tests.support.duplicates import jobs_of
from tests.support.emulator_process import emulator_process
from tests.support.tickets import write_tickets

ROWS, SHARD = 20, 5
LATENCY = 30
"""Seconds a response takes: long enough that none ends before the stop, short for the resume."""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ctrl_c_cancels_the_shards_responses_on_the_workers(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters
) -> None:
    cluster, _workers = clusters.ready()
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    log = tmp_path / "run.log"
    with emulator_process("--latency", f"fixed:{LATENCY}") as emu:
        env = {**env_on(prefect_env, emu), "ROWRELAY_SHARD_SIZE": str(SHARD)}
        args = [*run_args(source, tmp_path), "--max-in-flight", str(ROWS), "--rpm", "1000"]
        args += ["--dask", cluster.address]
        with started(args, env, log) as run:
            wait_until(lambda: in_flight(emu) == ROWS, run, log)
            run.send_signal(signal.SIGINT)
            assert exit_code(run, log, within=120) == 130, log.read_text()[-3000:]
        said = log.read_text()
        # The server's responses were cancelled as the run stopped (before: all 20 in progress), and the
        # line says so; or, had a shard not been reached, that its responses may still run.
        assert statuses(emu) == ["cancelled"] * ROWS, said[-3000:]
        assert f"interrupted: {ROWS} in-flight responses were cancelled; run the same command" in said
        # The shards let go of their leases: the same command resumes at once (before: refused ~55 s).
        resumed = subprocess.run(
            [*IN_PROCESS, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        jobs, _unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "state")
    assert set(frame["status"]) == {"completed"}
    # each row's jobs are its attempts: the stopped one and the resume's
    assert dict(zip(frame["row_key"], frame["attempts"], strict=True)) == dict(jobs)
    assert set(jobs.values()) == {2}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_workers_stop_is_said_once(tmp_path: Path, prefect_env: dict[str, str], prefect_api: str) -> None:
    """The workers of `--dask-workers` print to the command's stderr: each shard said its own `run
    cancelled: 5 in-flight responses were cancelled` above the progress line, four of them for one stop.
    Now the workers leave it to the command, which says the sum once, as a run without a cluster does."""
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    log = tmp_path / "run.log"
    with emulator_process("--latency", f"fixed:{LATENCY}") as emu:
        env = {**env_on(prefect_env, emu), "ROWRELAY_SHARD_SIZE": str(SHARD)}
        args = [*run_args(source, tmp_path), "--max-in-flight", str(ROWS), "--rpm", "1000"]
        with started([*args, "--dask-workers", "2"], env, log) as run:
            wait_until(lambda: in_flight(emu) == ROWS, run, log)
            run.send_signal(signal.SIGINT)
            assert exit_code(run, log, within=120) == 130, log.read_text()[-3000:]
        said = log.read_text()
        assert statuses(emu) == ["cancelled"] * ROWS, said[-3000:]
    stops = [line for line in said.splitlines() if "run cancelled: " in line]
    assert len(stops) == 1, said[-3000:]
    assert stops[0].endswith(f"run cancelled: {ROWS} in-flight responses were cancelled"), stops
    assert f"interrupted: {ROWS} in-flight responses were cancelled; run the same command" in said
