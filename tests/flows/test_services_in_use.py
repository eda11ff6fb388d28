"""`rowrelay services stop` while a run uses the embedded emulator: the run would start it again at once
(and send its in-flight rows again), so the stop is refused naming the run, unless --force, which stops
it and says the run will start it again. A real run in its own process on the real embedded emulator.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.flows import detached
from rowrelay.flows.embedded import stop_emulator
from rowrelay.flows.emulator_records import MARKER, emulator_record
from tests.support.cli import ROOT, exit_code, run_args, run_until_in_flight
from tests.support.tickets import write_tickets


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"
    stop_emulator(tmp_path / "home")


def _services(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-P", "-m", "rowrelay.flows.cli", "services", *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_stopping_the_emulator_a_run_uses_is_refused_naming_the_run_unless_forced(
    prefect_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    env = {
        **prefect_env, "ROWRELAY_HOME": str(home), "ROWRELAY_BACKEND": "emulator",
        "ROWRELAY_EMULATOR_ARGS": "--latency fixed:120 --seed 7", "ROWRELAY_WARM": "false",
    }  # fmt: skip
    source = write_tickets(tmp_path / "tickets.csv", 3)
    log = tmp_path / "run.log"
    run = run_until_in_flight(run_args(source, tmp_path), env, tmp_path / "state", 3, log)
    try:
        record = emulator_record(home)
        assert record is not None
        refused = _services(["stop"], env)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert refused.stdout == ""
        said = refused.stderr.replace("\n", "")
        assert said.startswith(f"error: a live run (pid {run.pid}: "), said
        # Only the service it uses is named: the refusal named the Prefect server too, in use or not.
        assert (
            "uses the embedded emulator: a run starts the embedded emulator again as soon as it stops, and "
            "the responses the emulator holds would be lost, their rows sent again; stop the run first "
            "(Ctrl-C), or pass --force to stop it anyway"
        ) in said
        assert detached.runs(int(record["pid"]), MARKER)  # nothing was stopped
        assert emulator_record(home) == record
        forced = _services(["stop", "emulator", "--force"], env)
        assert forced.returncode == 0, forced.stderr
        assert forced.stdout.splitlines()[0] == f"stopped emulator (pid {record['pid']})"
        assert forced.stdout.splitlines()[1].startswith(f"note: a live run (pid {run.pid}: ")
    finally:
        run.send_signal(signal.SIGINT)
        exit_code(run, log, within=120)
    assert _services(["stop"], env).returncode == 0  # no run: stopped as before
