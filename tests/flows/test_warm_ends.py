"""How a warm run (flows/warm.py) ends when a process of it other than the `rowrelay` command dies: the
forked command (the process `ps` shows as the run, the one the OOM killer picks) killed outright, or its
supervisor in the runner killed. In real processes over the real socket, against a real emulator and
Prefect API; which commands a runner served, and their pids, are read from its log.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from rowrelay.flows import warm
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import INSTALLED, env_for, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.local_prefect import servers_of
from tests.support.tickets import write_tickets
from tests.support.warm import served, wait_for_runner


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as running:
        yield running


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("warm-ends") / "home"
    yield home
    warm.stop_runner(home)
    assert not servers_of(home)


@pytest.fixture(scope="module")
def env(prefect_env: dict[str, str], emu: RunningEmulator, home: Path) -> dict[str, str]:
    return env_for(prefect_env, emu, ROWRELAY_HOME=str(home))


@pytest.fixture
def runner(env: dict[str, str], home: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A runner that serves the test's run: a run served warm just now says so (other work on this
    checkout changes the sources, and with them which runner may serve a run)."""
    for _ in range(5):
        where = tmp_path_factory.mktemp("first")
        before = len(served(home))
        done = rowrelay(run_args(write_tickets(where / "tickets.csv", 1), where), env, command=INSTALLED)
        assert done.returncode == 0, done.stderr[-3000:]
        if len(served(home)) > before:
            return
        wait_for_runner(home)
    raise AssertionError("no runner of this checkout's sources: they keep changing")


def _ended(process: psutil.Process) -> bool:
    """Whether it has exited (a zombie until the process that inherited it reaps it)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _resumed_paid_once(
    source: Path, where: Path, env: dict[str, str], server: RunningEmulator
) -> subprocess.CompletedProcess[str]:
    """The same command again, to its end; every row completed, and each paid for once."""
    resumed = rowrelay(run_args(source, where), env, command=INSTALLED)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    frame = load(where / "state")
    assert set(frame["status"]) == {"completed"}
    listing = server.emulator.listing()
    jobs = Counter(r["metadata"]["rowrelay_row"] for r in listing)
    unanswered = Counter(r["metadata"]["rowrelay_row"] for r in listing if not r["answered"])
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    return resumed


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_warm_run_killed_outright_ends_its_command_as_killed_in_one_line(
    runner: None, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 4)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:5"))) as slowish:
        slow_env = {**env, "ROWRELAY_BASE_URL": slowish.url}
        log = tmp_path / "run.log"
        before = len(served(home))
        run = run_until_in_flight(
            run_args(source, tmp_path), slow_env, tmp_path / "state", 4, log, command=INSTALLED
        )
        assert len(served(home)) == before + 1, "not served warm"
        os.kill(served(home)[-1], signal.SIGKILL)  # as the OOM killer does
        assert exit_code(run, log, within=120) == -signal.SIGKILL, log.read_text()[-3000:]
        said = log.read_text()
        assert "Traceback" not in said, said[-3000:]
        assert "OSError" not in said, said[-3000:]
        command = served(home)[-1]
        assert [line for line in said.splitlines() if line.startswith("rowrelay:")] == [
            f"rowrelay: this run (pid {command}) was killed (SIGKILL: `kill -9`, or the kernel out of "
            "memory); `rowrelay status` shows what the batch holds, and the same command again resumes it"
        ]
        _resumed_paid_once(source, tmp_path, slow_env, slowish)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_warm_run_whose_supervisor_dies_stops_with_it_and_says_so_then_the_same_command_resumes(
    runner: None, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 4)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120"))) as slow:
        slow_env = {**env, "ROWRELAY_BASE_URL": slow.url}
        log = tmp_path / "run.log"
        before = len(served(home))
        run = run_until_in_flight(
            run_args(source, tmp_path), slow_env, tmp_path / "state", 4, log, command=INSTALLED
        )
        assert len(served(home)) == before + 1, "not served warm"
        command = psutil.Process(served(home)[-1])
        supervisor = command.ppid()
        os.kill(supervisor, signal.SIGKILL)
        assert exit_code(run, log, within=120) == 1, log.read_text()[-3000:]
        # Ended before its client: nothing of the run writes to the terminal or holds the batch after.
        assert _ended(command), log.read_text()[-3000:]
        last = log.read_text().strip().splitlines()[-1]
        assert last == (
            f"rowrelay: the warm runner's supervisor of this run (pid {supervisor}) stopped before the run "
            f"ended, and the run (pid {command.pid}) was stopped with it as a SIGTERM stops a run (its "
            "in-flight responses cancelled); `rowrelay status` shows what the batch holds, and the same "
            "command again resumes it"
        )
        assert {r["status"] for r in slow.emulator.listing()} == {"cancelled"}
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as quick:
        # The cancelled responses are on the slow server, gone: the rows are sent again, once, here.
        quick_env = {**env, "ROWRELAY_BASE_URL": quick.url}
        resumed = rowrelay(run_args(source, tmp_path), quick_env, command=INSTALLED)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert set(load(tmp_path / "state")["status"]) == {"completed"}
