"""`rowrelay services stop` in a run's first seconds, before it holds a connection to the services it is
about to use: the stop was not refused, stopped the embedded emulator and the local Prefect server, and
the run said it had "started it again on its port ... so the run goes on being recorded", then failed as
the server "stopped answering as the run started ... nothing was sent" (exit 2). A run announces the
services it will use before it looks them up, and a stop then is refused, naming it.

The test holds the local Prefect server's lock, which a run takes to look the server up: the run waits
there (seen in /proc/locks, whatever the code), connected to nothing, while the stop is asked for.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.flows import detached
from rowrelay.flows.emulator_records import MARKER, emulator_record
from rowrelay.flows.local_prefect import alive, read_server
from rowrelay.tasks.state import load
from tests.support.cli import IN_PROCESS, ROOT, rowrelay, run_args
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.tickets import write_tickets

_SERVER_LOCK = "prefect-server.lock"
"""What a run holds to look the local Prefect server up (flows/local_prefect.py)."""


def _waits_on_a_lock(pid: int) -> bool:
    """Whether process `pid` is blocked taking a file lock (a `->` line of /proc/locks is a waiter)."""
    waiting = (line.split() for line in Path("/proc/locks").read_text().splitlines())
    return any(
        parts[1] == "->" and parts[5] == str(pid) for parts in waiting
    )  # `1: -> FLOCK ADVISORY WRITE PID`


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_stop_in_a_runs_first_seconds_is_refused_and_the_run_goes_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = environment(home, tmp_path / "client-prefect", ROWRELAY_EMULATOR_ARGS="--latency fixed:0.05")
    with stopped_afterwards(home):
        # An earlier batch (other ids: jobs are counted by row key) leaves both services running.
        earlier = write_tickets(tmp_path / "earlier.csv", 2)
        frame = pd.read_csv(earlier)
        frame["ticket_id"] = ["E-1", "E-2"]
        frame.to_csv(earlier, index=False)
        first = rowrelay(run_args(earlier, tmp_path / "first"), env, command=IN_PROCESS)
        assert first.returncode == 0, first.stderr[-3000:]
        server, emulator = read_server(home), emulator_record(home)
        assert server is not None
        assert emulator is not None

        source = write_tickets(tmp_path / "tickets.csv", 3)
        log = tmp_path / "run.log"
        with detached.exclusive(home / _SERVER_LOCK), log.open("wb") as out:
            run = subprocess.Popen([*IN_PROCESS, *run_args(source, tmp_path)], cwd=ROOT, env=env, stdout=out,
                                   stderr=out)  # fmt: skip
            try:
                deadline = time.monotonic() + 120
                while not _waits_on_a_lock(run.pid):
                    assert run.poll() is None, log.read_text()[-3000:]
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.1)
                refused = rowrelay(["services", "stop", "emulator"], env)
                assert refused.returncode == 1, refused.stdout + refused.stderr
                said = refused.stderr.replace("\n", "")  # a line a terminal's width may have wrapped
                assert said.startswith(f"error: a live run (pid {run.pid}: {' '.join(IN_PROCESS)}"), said
                assert "uses the embedded emulator: a run starts the embedded emulator again" in said
                refused = rowrelay(["services", "stop"], env)
                assert refused.returncode == 1, refused.stdout + refused.stderr
                assert "uses the embedded emulator and the local Prefect server" in refused.stderr.replace(
                    "\n", ""
                )
                assert alive(server)
                assert detached.runs(int(emulator["pid"]), MARKER)
            except BaseException:
                run.kill()  # not left running, waiting on the lock, into the next tests
                run.wait()
                raise
        assert run.wait(timeout=240) == 0, log.read_text()[-3000:]
        said = log.read_text()
        assert "started it again" not in said, said
        assert "error:" not in said, said
        assert_every_job_is_paid_for(load(tmp_path / "state"), *jobs_of(str(emulator["url"])))
