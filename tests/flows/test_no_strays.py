"""No stray servers: `kill -9` of the `rowrelay run` process alone (what an OOM killer or an impatient
person does) leaves running only the documented long-lived services, which `rowrelay services` lists:
the embedded emulator and, in the default mode, the local Prefect server (and a warm runner, when the
run was a runner's). In `ROWRELAY_PREFECT=ephemeral` mode the run's own Prefect server goes with the run.

Every process the run starts inherits a marker in its environment (a variable rowrelay passes on to what
it spawns), so the check finds them wherever they were reparented to, without trusting rowrelay's records.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

import psutil
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.support.cli import IN_PROCESS, INSTALLED, rowrelay, run_args, run_until_in_flight
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.tickets import write_tickets
from tests.support.warm import served, wait_for_runner

ROWS = 4
_SETTLE_SECONDS = 60.0
"""How long a leashed server may take to shut down once the kernel has signalled it (a bound, not a wait:
the check ends as soon as it holds)."""


def _started_by(marker: str) -> dict[int, str]:
    """Live processes (zombies are dead, awaiting their reaper) whose environment holds `marker`."""
    found = {}
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("STRAY_CHECK") == marker and process.status() != psutil.STATUS_ZOMBIE:
                found[process.pid] = " ".join(process.cmdline())[:200]
    return found


def _leave_a_runner(env: dict[str, str], where: Path) -> None:
    """A quick run of its own (on an emulator without latency), which leaves a warm runner behind."""
    where.mkdir()
    source = write_tickets(where / "tickets.csv", 1)
    with running_emulator(EmulatorConfig()) as quick:
        quick_env = {**env, "ROWRELAY_BACKEND": "emulator", "ROWRELAY_BASE_URL": quick.url}
        done = rowrelay(run_args(source, where), quick_env, command=INSTALLED)
    assert done.returncode == 0, done.stderr[-3000:]
    wait_for_runner(Path(env["ROWRELAY_HOME"]))


def _listed(env: dict[str, str]) -> dict[str, int]:
    """What `rowrelay services` lists as alive: pid by service name."""
    listed = rowrelay(["services"], env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    return {row[0]: int(row[1]) for row in rows if row[-1] == "yes"}


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("mode", "long_lived"),
    [
        ("local", {"emulator", "prefect"}),
        ("ephemeral", {"emulator"}),
        ("warm", {"emulator", "prefect", "runner"}),
    ],
)
def test_a_sigkilled_run_leaves_only_the_services_it_lists(
    tmp_path: Path, mode: str, long_lived: set[str]
) -> None:
    """In `warm` mode the killed run is a warm runner's (flows/warm.py): its copy goes with it."""
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    marker = uuid.uuid4().hex
    with stopped_afterwards(tmp_path / "home") as home:
        env = environment(
            home, tmp_path / "client-prefect", ROWRELAY_PREFECT="local" if mode == "warm" else mode,
            ROWRELAY_EMULATOR_ARGS="--latency fixed:600", STRAY_CHECK=marker,
        )  # fmt: skip
        command = IN_PROCESS
        if mode == "warm":
            command = INSTALLED
            _leave_a_runner(env, tmp_path / "first")
        run = run_until_in_flight(  # mid-run: every row in flight
            run_args(source, tmp_path), env, tmp_path / "state", ROWS, tmp_path / "run.log", within=300,
            command=command,
        )  # fmt: skip
        if mode == "warm":
            assert len(served(home)) == 1
        started = _started_by(marker)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        servers = [pid for pid, line in started.items() if "prefect server start" in line]
        assert len(servers) == 1, started  # the local one, or the run's own (ephemeral mode)
        services = _listed(env)
        assert set(services) == long_lived
        deadline = time.monotonic() + _SETTLE_SECONDS
        while (left := _started_by(marker)).keys() != set(services.values()):
            assert time.monotonic() < deadline, f"still running: {left}; listed: {services}"
            time.sleep(0.2)
