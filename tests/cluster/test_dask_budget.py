"""Batches on a real Dask LocalCluster (2 worker processes) through the CLI, under one rate budget: every
create each server saw granted by the run's one bank, for its endpoint and at its rate, and every job
the server started compared with what its row counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from tests.support.cli import rowrelay, run_args
from tests.support.dask_runs import assert_finished_and_paid_for, env_on
from tests.support.duplicates import jobs_of
from tests.support.emulator_process import EmulatorProcess, emulator_process
from tests.support.prefect_records import flow_run_on, logs_of
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
RPM = 1200
"""20 creates a second, enforced per second by the emulator (--rate-window 1)."""


def test_two_workers_share_one_rate_budget(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str
) -> None:
    # Enough rows for all four shards (a batch under --shard-size is cut one per thread) and some seconds
    # of sends at the server's rate; more rows only add seconds at 20 a second, not another case.
    rows = 120
    source = write_tickets(tmp_path / "tickets.csv", rows)
    with (
        emulator_process("--rpm", str(RPM), "--rate-window", "1", "--latency", "fixed:0.5") as emu,
        _dask_default_http_port_taken(),
    ):
        args = [*run_args(source, tmp_path), "--dask-workers", "2", "--rpm", str(RPM)]
        env = {**env_on(prefect_env, emu), "PREFECT_LOGGING_LEVEL": "INFO"}  # Prefect's default, as users run
        done = rowrelay(args, env, timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        # The workers print to the command's stderr, at its console's level: no INFO line per shard
        assert "Finished in state" not in done.stderr, done.stderr[-3000:]
        # Nor Dask's "Port 8787 is already in use": the LocalCluster's scheduler took it by default
        assert "8787" not in done.stderr, done.stderr[-3000:]
        frame = load(tmp_path / "state")
        assert set(frame["writer"]) == {f"shard-{n}" for n in range(4)}  # 2 workers, 2 threads each
        planned = _said(tmp_path / "state", " to send, ")
        assert [line.split(", ")[-2:] for line in planned] == [[f"{rows} to send", "4 shards"]], (
            planned
        )  # as run
        assert_finished_and_paid_for(tmp_path / "state", emu, rows)
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

    said = _said(state, "shared budget")
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
    rows, east_rpm, west_rpm = 120, 1200, 600  # each endpoint's rows take ~4 s at its rate
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
        assert Counter(frame["endpoint"]) == {"east": 80, "west": 40}  # 2:1, as their rpm
        jobs = {"east": jobs_of(east.url)[0], "west": jobs_of(west.url)[0]}
        for key, endpoint, attempts in zip(
            frame["row_key"], frame["endpoint"], frame["attempts"], strict=True
        ):
            other = "west" if endpoint == "east" else "east"
            assert (jobs[endpoint][key], jobs[other][key]) == (attempts, 0), key
        _assert_every_create_drew_on_the_one_budget(
            tmp_path / "state", {"east": (east, east_rpm), "west": (west, west_rpm)}
        )


def _said(state: Path, words: str) -> list[str]:
    """The lines of the run's flow logs (in Prefect) that hold `words`."""

    async def read() -> list[str]:
        run = await flow_run_on(state)
        return [each.message for each in await logs_of(run.id) if words in each.message]

    return asyncio.run(read())
