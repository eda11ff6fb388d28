"""`rowrelay services stop` under a run that did not announce itself: `run_batch` called from a Python
script, the first run on a machine (no rowrelay home yet). Such a run was seen only by its connections,
and only if its command line said rowrelay, which a script's or a notebook kernel's does not: the stop
went through, stopped the embedded emulator holding the run's in-flight rows, and the run started it
again and sent those rows again. Now every run announces the services it uses (flows/service_users.py),
and the stop is refused naming it. A real run in its own process on the real embedded emulator, in a
home that does not exist when it starts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.flows import detached
from rowrelay.flows.embedded import stop_emulator
from rowrelay.flows.emulator_records import MARKER, emulator_record
from rowrelay.tasks.state import load
from tests.support.cli import ROOT, exit_code, run_until_in_flight
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.tickets import TEMPLATE, write_tickets

_ROWS = 3


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"
    stop_emulator(tmp_path / "home")


def _script(folder: Path, source: Path, state: Path) -> Path:
    """A user's script calling `run_batch` (its command line names no rowrelay)."""
    script = folder / "nightly.py"
    script.write_text(
        textwrap.dedent(f"""
            import asyncio
            from rowrelay.flows.batch import run_batch

            asyncio.run(run_batch({str(source)!r}, template={TEMPLATE!r}, id_column="ticket_id",
                                  state={str(state)!r}, output={str(folder / "out.csv")!r}))
        """)
    )
    return script


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_python_run_in_a_new_home_is_not_stopped_under(
    prefect_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    assert not home.exists()  # the machine's first run
    env = {
        **prefect_env, "ROWRELAY_HOME": str(home), "ROWRELAY_BACKEND": "emulator",
        "ROWRELAY_EMULATOR_ARGS": "--latency fixed:120 --seed 7", "ROWRELAY_WARM": "false",
    }  # fmt: skip
    folder = tmp_path / "job"
    folder.mkdir()
    state = folder / "state"
    script = _script(folder, write_tickets(folder / "tickets.csv", _ROWS), state)
    log = folder / "run.log"
    run = run_until_in_flight([str(script)], env, state, _ROWS, log, command=[sys.executable])
    try:
        record = emulator_record(home)
        assert record is not None
        stop = [sys.executable, "-P", "-m", "rowrelay.flows.cli", "services", "stop"]
        refused = subprocess.run(stop, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        said = refused.stderr.replace("\n", "")
        assert said.startswith(f"error: a live run (pid {run.pid}: "), said
        assert "uses the embedded emulator" in said
        assert detached.runs(int(record["pid"]), MARKER)  # nothing was stopped
        assert emulator_record(home) == record
        # Each row's jobs on the emulator that held them all along: one each, as counted.
        frame = load(state)
        assert_every_job_is_paid_for(frame, *jobs_of(str(record["url"])))
        assert sum(jobs_of(str(record["url"]))[0].values()) == _ROWS
    finally:
        run.send_signal(signal.SIGINT)
        exit_code(run, log, within=120)
