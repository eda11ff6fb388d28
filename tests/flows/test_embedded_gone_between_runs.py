"""A batch resumed after the embedded emulator that held its responses died between runs. Its rows find
their responses gone, are recorded expired and sent again, one attempt more each, as after a restart
during a run; but only a restart during a run was said ("the responses it held are gone, so their rows are
sent again"), and this resume said nothing beyond "started the embedded emulator". It now says so too, in
the same words (flows/embedded.py `RESPONSES_LOST`)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.flows.emulator_records import emulator_record
from rowrelay.tasks.state import load
from tests.support.cli import IN_PROCESS, ROOT, run_args, run_until_in_flight
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.tickets import write_tickets


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    with stopped_afterwards(tmp_path / "home") as home:
        yield home


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_resume_after_the_embedded_emulator_died_between_runs_says_its_responses_are_gone(
    tmp_path: Path, home: Path
) -> None:
    rows = 12
    source = write_tickets(tmp_path / "tickets.csv", rows)
    env = environment(home, tmp_path / "client-prefect", ROWRELAY_EMULATOR_ARGS="--latency fixed:2")
    args = run_args(source, tmp_path)
    first = run_until_in_flight(args, env, tmp_path / "state", rows, tmp_path / "first.log", within=240)
    first.kill()  # kill -9 of the run: its rows keep their response ids
    first.wait()
    died = emulator_record(home)
    assert died is not None
    os.kill(int(died["pid"]), signal.SIGKILL)  # and of the emulator holding their responses

    second = subprocess.run(
        [*IN_PROCESS, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr[-3000:]
    again = emulator_record(home)
    assert again is not None
    assert again["pid"] != died["pid"]
    said = " ".join(second.stderr.split())  # the log's own wrapping aside
    assert (
        f"the embedded emulator stopped after this batch's last run left {rows} rows in flight; it now runs "
        f"at {again['url']} (pid {again['pid']}): the responses it held are gone, so their rows are sent "
        "again (the emulator charges nothing)"
    ) in said, second.stderr[-3000:]
    state = load(tmp_path / "state")
    assert set(state["status"]) == {"completed"}
    # Each row's first job died with the emulator that ran it; the one it has now is its second attempt.
    started, unanswered = jobs_of(again["url"])
    assert started == dict.fromkeys(state["row_key"], 1)
    assert state["attempts"].tolist() == [2] * rows
    assert_every_job_is_paid_for(state, started, unanswered)
