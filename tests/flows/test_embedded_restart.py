"""The embedded emulator a run uses is started again on its port when it stops mid-run (flows/embedded.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.flows import detached
from rowrelay.flows.emulator_records import MARKER as EMULATOR
from rowrelay.flows.emulator_records import emulator_record
from rowrelay.tasks.state import load
from tests.support.cli import exit_code, run_args, run_until_in_flight
from tests.support.duplicates import jobs_of
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.tickets import write_tickets


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    with stopped_afterwards(tmp_path / "home") as home:
        yield home


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_embedded_emulator_killed_mid_run_is_started_again_on_its_port_and_every_row_completes(
    tmp_path: Path, home: Path
) -> None:
    """Left alone, the run waited out --give-up-after (an hour) on a server that was never coming back."""

    rows = 20
    source = write_tickets(tmp_path / "tickets.csv", rows)
    env = environment(home, tmp_path / "client-prefect", ROWRELAY_EMULATOR_ARGS="--latency fixed:3")
    args = run_args(source, tmp_path)
    run = run_until_in_flight(args, env, tmp_path / "state", rows, tmp_path / "run.log", within=240)
    killed = emulator_record(home)
    assert killed is not None
    os.kill(int(killed["pid"]), signal.SIGKILL)
    try:
        assert exit_code(run, tmp_path / "run.log", within=240) == 0, (tmp_path / "run.log").read_text()[
            -3000:
        ]
    finally:
        run.kill()
        run.wait()
    said = (tmp_path / "run.log").read_text()
    again = emulator_record(home)
    assert again is not None
    assert again["url"] == killed["url"]
    assert again["pid"] != killed["pid"]
    assert detached.runs(int(again["pid"]), EMULATOR)
    assert (
        f"the embedded emulator stopped during this run; started it again at {killed['url']} "
        f"(pid {again['pid']})"
    ) in said
    state = load(tmp_path / "state")
    assert set(state["status"]) == {"completed"}
    # Every row was in flight on the emulator that died: its job is gone with it, and the row was created
    # once more on the new one. Each create counted, none more than that.
    created_again, _ = jobs_of(again["url"])
    assert created_again == dict.fromkeys(state["row_key"], 1)
    assert state["attempts"].tolist() == [2] * rows
