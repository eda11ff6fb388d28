"""A batch on a real Dask LocalCluster (2 worker processes) started by the CLI (`--dask-workers`), under
one rate budget: every create the server saw granted by the run's one bank, at its rate, every job the
server started compared with what its row counted, and the workers' console as the command's. Each
endpoint's own budget across workers runs on an existing cluster (tests/cluster/test_existing_cluster.py).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from tests.support.cli import rowrelay, run_args
from tests.support.dask_runs import (
    assert_every_create_drew_on_the_one_budget,
    assert_finished_and_paid_for,
    env_on,
    said_in_flow_logs,
)
from tests.support.emulator_process import emulator_process
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
        planned = said_in_flow_logs(tmp_path / "state", " to send, ")
        assert [line.split(", ")[-2:] for line in planned] == [[f"{rows} to send", "4 shards"]], (
            planned
        )  # as run
        assert_finished_and_paid_for(tmp_path / "state", emu, rows)
        assert_every_create_drew_on_the_one_budget(tmp_path / "state", {"default": (emu, RPM)})


@contextlib.contextmanager
def _dask_default_http_port_taken() -> Iterator[None]:
    """Port 8787 held, as another cluster's scheduler or a dashboard holds it (if something already
    does, so much the better)."""
    with socket.socket() as holder:
        with contextlib.suppress(OSError):
            holder.bind(("127.0.0.1", 8787))
            holder.listen()
        yield
