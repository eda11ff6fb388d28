"""A batch on a real Dask LocalCluster through the CLI (`--dask-workers`), against an emulator process:
a whole run killed and resumed with another worker count. The duplicate check compares the server's jobs
per row with what the row counted (the shared budget is test_dask_budget.py's; runs on an existing
cluster, a worker killed mid-run among them, are test_existing_cluster.py's).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from tests.support.cli import rowrelay, run_args, wait_until
from tests.support.dask_runs import assert_finished_and_paid_for, env_on, holding, started
from tests.support.emulator_process import emulator_process
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _completed(state: Path) -> int:
    with contextlib.suppress(Exception):  # a read racing a compaction: ask again
        return int((load(state)["status"] == "completed").sum())
    return 0


def test_a_killed_run_resumes_with_another_worker_count(tmp_path: Path, prefect_env: dict[str, str]) -> None:
    """2 workers, killed; 1 worker, killed; 2 workers again, to the end: each run holds rows in flight
    when the whole run (the CLI, its cluster, its workers) is SIGKILLed."""
    rows = 200
    source = write_tickets(tmp_path / "tickets.csv", rows)
    state, log = tmp_path / "state", tmp_path / "run.log"
    with emulator_process("--latency", "fixed:3") as emu:
        env = env_on(prefect_env, emu)
        args = [*run_args(source, tmp_path), "--rpm", "3000"]
        with started([*args, "--dask-workers", "2"], env, log) as run:
            wait_until(lambda: holding(state) >= 40, run, log)
            os.killpg(run.pid, signal.SIGKILL)
        first = _completed(state)
        with started([*args, "--dask-workers", "1"], env, log) as run:
            wait_until(lambda: _completed(state) > first and holding(state) >= 20, run, log)
            os.killpg(run.pid, signal.SIGKILL)
        resumed = rowrelay([*args, "--dask-workers", "2"], env, timeout=400)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert_finished_and_paid_for(state, emu, rows)
