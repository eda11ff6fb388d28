"""Batches on a real Dask LocalCluster (2 worker processes) through the CLI, against an emulator process:
a worker SIGKILLed mid-run, a whole run killed and resumed with another worker count. Every duplicate
check compares the server's jobs per row with what the row counted (the shared budget is
test_dask_budget.py's: two files, so that the suite's workers run them side by side).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from rowrelay.tasks.state import load
from tests.support.cli import ROOT, exit_code, rowrelay, run_args
from tests.support.dask_runs import assert_finished_and_paid_for, env_on
from tests.support.emulator_process import emulator_process
from tests.support.prefect_records import artifacts_of, flow_run_on
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _workers_of(run: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The Dask worker processes a LocalCluster of the run spawned."""
    children = psutil.Process(run.pid).children(recursive=True)
    return [p for p in children if any("spawn_main" in part for part in p.cmdline())]


def _holding(state: Path) -> int:
    """Rows holding a response id still in flight."""
    if not (state / "batch.json").exists():
        return 0
    with contextlib.suppress(Exception):  # a read racing a compaction: ask again
        frame = load(state)
        waiting = frame["status"].isin(["queued", "in_progress"]) & frame["response_id"].notna()
        return int(waiting.sum())
    return 0


@contextlib.contextmanager
def _started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-P", "-m", "rowrelay.flows.cli", *args]
    with log.open("wb") as out:
        run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
        try:
            yield run
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def _wait_until(condition: Any, run: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        assert run.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)


def _progress_shown(state: Path) -> tuple[float, str]:
    """The percentage the run's progress artifact shows in Prefect now (-1 before there is one), and its
    description."""

    async def read() -> tuple[float, str]:
        try:
            run = await flow_run_on(state)
        except AssertionError:
            return -1.0, ""  # the flow run is not created yet
        progress = [a for a in await artifacts_of(run.id) if a.type == "progress"]
        return (float(str(progress[0].data)), str(progress[0].description)) if progress else (-1.0, "")

    return asyncio.run(read())


def _mid_run(shown: tuple[float, str], seen: list[str]) -> bool:
    seen[:] = [shown[1]]
    return 0 < shown[0] < 100


def test_a_worker_killed_mid_run_loses_nothing(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str
) -> None:
    rows = 200
    source = write_tickets(tmp_path / "tickets.csv", rows)
    state, log = tmp_path / "state", tmp_path / "run.log"
    with emulator_process("--latency", "fixed:3") as emu:
        # 10 creates a second: rows complete over some 20 s, long enough to see the artifact mid-run on
        # a loaded machine (at 3,000/min the whole batch could end before the test looked)
        args = [*run_args(source, tmp_path), "--dask-workers", "2", "--rpm", "600"]
        with _started(args, env_on(prefect_env, emu), log) as run:
            _wait_until(lambda: _holding(state) >= 20 and len(_workers_of(run)) == 2, run, log)
            mid_run = rowrelay(["status", str(state)], env_on(prefect_env, emu))  # every writer's rows
            assert mid_run.returncode == 0, mid_run.stderr
            assert f"rows {rows} " in mid_run.stdout, mid_run.stdout
            assert "queued" in mid_run.stdout or "in_progress" in mid_run.stdout, mid_run.stdout
            victim = _workers_of(run)[0]
            victim.send_signal(signal.SIGKILL)
            # the coordinator's artifact, from what every worker wrote to the table, moves meanwhile,
            # saying what the rows answered so far cost (each worker prices its own)
            seen: list[str] = []
            _wait_until(lambda: _mid_run(_progress_shown(state), seen), run, log)
            money = r"\$[\d.]+ spent \(~\$[\d.]+ projected\)"
            assert re.fullmatch(rf"\d+/{rows} rows done, \d+ in flight, {money}", seen[0]), seen[0]
            assert exit_code(run, log, within=400) == 0, log.read_text()[-3000:]
        assert_finished_and_paid_for(state, emu, rows)


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
        with _started([*args, "--dask-workers", "2"], env, log) as run:
            _wait_until(lambda: _holding(state) >= 40, run, log)
            os.killpg(run.pid, signal.SIGKILL)
        first = _completed(state)
        with _started([*args, "--dask-workers", "1"], env, log) as run:
            _wait_until(lambda: _completed(state) > first and _holding(state) >= 20, run, log)
            os.killpg(run.pid, signal.SIGKILL)
        resumed = rowrelay([*args, "--dask-workers", "2"], env, timeout=400)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert_finished_and_paid_for(state, emu, rows)
