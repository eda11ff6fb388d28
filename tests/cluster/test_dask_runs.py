"""Batches on a real Dask LocalCluster (2 worker processes) through the CLI, against an emulator process
enforcing its rate per second: one budget for all workers, a worker SIGKILLed mid-run, a whole run
killed and resumed with another worker count. Every duplicate check compares the server's jobs per row
with what the row counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from rowrelay.tasks.state import load
from tests.support.cli import ROOT, exit_code, rowrelay, run_args
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.emulator_process import EmulatorProcess, emulator_process
from tests.support.prefect_records import artifacts_of, flow_run_on, logs_of
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
RPM = 1200
"""20 creates a second, enforced per second by the emulator (--rate-window 1)."""


def _env(prefect_env: dict[str, str], emu: EmulatorProcess) -> dict[str, str]:
    return {**prefect_env, "ROWRELAY_BACKEND": "emulator", "ROWRELAY_BASE_URL": emu.url}


def _jobs(emu: EmulatorProcess) -> tuple[Counter[str], Counter[str]]:
    """Jobs the server started per row, and those whose create it never answered."""
    listing: list[dict[str, Any]] = emu.get("/emulator/jobs")["data"]
    started = Counter(job["metadata"].get("rowrelay_row") for job in listing)
    unanswered = Counter(job["metadata"].get("rowrelay_row") for job in listing if not job["answered"])
    return started, unanswered


def _assert_finished_and_paid_for(state: Path, emu: EmulatorProcess, rows: int) -> None:
    frame = load(state)
    assert len(frame) == rows
    assert set(frame["status"]) == {"completed"}, frame["status"].value_counts()
    started, unanswered = _jobs(emu)
    assert_every_job_is_paid_for(frame, started, unanswered)


def test_two_workers_share_one_rate_budget(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str
) -> None:
    rows = 400
    source = write_tickets(tmp_path / "tickets.csv", rows)
    with (
        emulator_process("--rpm", str(RPM), "--rate-window", "1", "--latency", "fixed:0.5") as emu,
        _dask_default_http_port_taken(),
    ):
        args = [*run_args(source, tmp_path), "--dask-workers", "2", "--rpm", str(RPM)]
        env = {**_env(prefect_env, emu), "PREFECT_LOGGING_LEVEL": "INFO"}  # Prefect's default, as users run
        done = rowrelay(args, env, timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        # The workers print to the command's stderr, at its console's level: no INFO line per shard
        assert "Finished in state" not in done.stderr, done.stderr[-3000:]
        # Nor Dask's "Port 8787 is already in use": the LocalCluster's scheduler took it by default
        assert "8787" not in done.stderr, done.stderr[-3000:]
        frame = load(tmp_path / "state")
        assert set(frame["writer"]) == {f"shard-{n}" for n in range(4)}  # 2 workers, 2 threads each
        _assert_finished_and_paid_for(tmp_path / "state", emu, rows)
        _assert_every_create_drew_on_the_one_budget(tmp_path / "state", {"default": (emu, RPM)})


@contextlib.contextmanager
def _dask_default_http_port_taken() -> Iterator[None]:
    """Port 8787 held, as another cluster's scheduler or a dashboard holds it (if something already
    does, so much the better)."""
    with socket.socket() as holder:
        with contextlib.suppress(OSError):
            holder.bind(("127.0.0.1", 8787))
            holder.listen()
        yield


def _assert_every_create_drew_on_the_one_budget(
    state: Path, servers: dict[str, tuple[EmulatorProcess, int]]
) -> None:
    """Every create each server saw (the ones it answered 429 too) was granted, for that server's
    endpoint and at its rate per minute, by the run's one budget on the scheduler, and the budget
    granted none that was not sent.
    How that budget keeps and uses a rate across workers is tests/llm/test_bank.py's to show, on a
    virtual clock; how closely sends keep it in wall time is bench_dask's to measure. Here a loaded CI
    machine delays sends and bunches them (15 429s of 175 creates, once, at a server enforcing its
    rate per second), which says nothing of whether the workers shared the budget."""
    granted = _granted(state)
    for name, (emu, rpm) in servers.items():
        creates = emu.get("/emulator/stats")["routes"]["POST /v1/responses"]
        assert granted.get(name) == (creates, rpm), (name, granted, creates)


def _granted(state: Path) -> dict[str, tuple[int, int]]:
    """Creates the run's shared budget granted, and at what rate a minute, by endpoint: the flow's own
    account of it in its logs."""

    async def read() -> list[str]:
        run = await flow_run_on(state)
        return [each.message for each in await logs_of(run.id) if "shared budget" in each.message]

    said = asyncio.run(read())
    assert len(said) == 1, said
    found = re.findall(r"(\w+) ([\d,]+) creates at ([\d,]+)/min", said[0])
    return {name: (int(count.replace(",", "")), int(rpm.replace(",", ""))) for name, count, rpm in found}


def test_each_endpoint_keeps_its_own_budget_across_workers(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str
) -> None:
    """Two endpoints (`--endpoints`), each a server enforcing its own rate per second, on 2 workers:
    rows split by rpm, every create to each server granted at its rate by the one budget all the workers
    draw on, every job on the server the table names, the second endpoint's key read by the workers
    from the variable its entry names."""
    rows, east_rpm, west_rpm = 240, 1200, 600
    source = write_tickets(tmp_path / "tickets.csv", rows)
    limits = ("--rate-window", "1", "--latency", "fixed:0.5")
    with (
        emulator_process("--rpm", str(east_rpm), *limits) as east,
        emulator_process("--rpm", str(west_rpm), *limits) as west,
    ):
        endpoints = tmp_path / "endpoints.json"
        endpoints.write_text(json.dumps([
            {"name": "east", "backend": "emulator", "base_url": east.url, "rpm": east_rpm},
            {"name": "west", "backend": "openai", "base_url": west.url, "api_key_env": "WEST_KEY",
             "rpm": west_rpm},
        ]))  # fmt: skip
        env = {**prefect_env, "WEST_KEY": "sk-west-test"}
        args = [*run_args(source, tmp_path), "--dask-workers", "2", "--endpoints", str(endpoints)]
        done = rowrelay(args, env, timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        frame = load(tmp_path / "state")
        assert set(frame["status"]) == {"completed"}
        assert Counter(frame["endpoint"]) == {"east": 160, "west": 80}  # 2:1, as their rpm
        jobs = {"east": _jobs(east)[0], "west": _jobs(west)[0]}
        for key, endpoint, attempts in zip(
            frame["row_key"], frame["endpoint"], frame["attempts"], strict=True
        ):
            other = "west" if endpoint == "east" else "east"
            assert (jobs[endpoint][key], jobs[other][key]) == (attempts, 0), key
        _assert_every_create_drew_on_the_one_budget(
            tmp_path / "state", {"east": (east, east_rpm), "west": (west, west_rpm)}
        )


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


def _progress_shown(state: Path) -> float:
    """The percentage the run's progress artifact shows in Prefect now (-1 before there is one)."""

    async def read() -> float:
        try:
            run = await flow_run_on(state)
        except AssertionError:
            return -1.0  # the flow run is not created yet
        progress = [a for a in await artifacts_of(run.id) if a.type == "progress"]
        return float(str(progress[0].data)) if progress else -1.0

    return asyncio.run(read())


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
        with _started(args, _env(prefect_env, emu), log) as run:
            _wait_until(lambda: _holding(state) >= 20 and len(_workers_of(run)) == 2, run, log)
            mid_run = rowrelay(["status", str(state)], _env(prefect_env, emu))  # every writer's rows
            assert mid_run.returncode == 0, mid_run.stderr
            assert f"rows {rows} " in mid_run.stdout, mid_run.stdout
            assert "queued" in mid_run.stdout or "in_progress" in mid_run.stdout, mid_run.stdout
            victim = _workers_of(run)[0]
            victim.send_signal(signal.SIGKILL)
            # the coordinator's artifact, from what every worker wrote to the table, moves meanwhile
            _wait_until(lambda: 0 < _progress_shown(state) < 100, run, log)
            assert exit_code(run, log, within=400) == 0, log.read_text()[-3000:]
        _assert_finished_and_paid_for(state, emu, rows)


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
        env = _env(prefect_env, emu)
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
        _assert_finished_and_paid_for(state, emu, rows)
