"""A local Prefect server that is alive but does not answer (frozen with SIGSTOP) is treated like one that
is down: the run stops it and starts it again on its port, and ends as usual, recorded, with its output
and its summary. Before, the guard saw its process there and did nothing: the run's Prefect calls waited
for answers that never came, and a run whose rows had all completed printed nothing and wrote no output.

Against a real `prefect server start`, started by the code under test and stopped before the test ends
(`tests/support/local_prefect.py`); the frozen process is resumed in teardown, whatever happened."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.flows import detached
from rowrelay.flows.local_prefect import MARKER, read_server
from rowrelay.tasks.state import load
from tests.support.cli import exit_code, run_args, run_until_in_flight
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.tickets import write_tickets


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    with stopped_afterwards(tmp_path / "home") as home:
        yield home


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_frozen_server_is_stopped_and_started_again_and_the_run_ends_with_its_output(
    tmp_path: Path, home: Path
) -> None:
    rows = 20
    source = write_tickets(tmp_path / "tickets.csv", rows)
    env = environment(home, tmp_path / "client-prefect", ROWRELAY_EMULATOR_ARGS="--latency fixed:4")
    log = tmp_path / "run.log"
    run = run_until_in_flight(run_args(source, tmp_path), env, tmp_path / "state", rows, log, within=240)
    frozen = read_server(home)
    assert frozen is not None
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        # A hang guard only: on the old code the run was still silent ten minutes later.
        assert exit_code(run, log, within=180) == 0, log.read_text()[-3000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen.pid, signal.SIGCONT)  # never leave a stopped process behind
        run.kill()
        run.wait()
    said = log.read_text()
    restarted = f"the local Prefect server (pid {frozen.pid}) stopped answering during this run; started it"
    assert restarted in said, said[-3000:]
    again = read_server(home)
    assert again is not None
    assert (again.port, again.pid != frozen.pid) == (frozen.port, True)
    assert detached.runs(again.pid, MARKER)
    assert not detached.runs(frozen.pid, MARKER)  # stopped, not left frozen on the side
    assert set(load(tmp_path / "state")["status"]) == {"completed"}
    assert len(pd.read_csv(tmp_path / "out.csv")) == rows
    assert f"output: {tmp_path / 'out.csv'}" in said, said[-3000:]  # the closing summary
