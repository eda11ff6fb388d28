"""A row a stop left `failed` with attempts left is one the next run sends (`run.plan.wants_submit`), so
`status` projects the batch's cost with it still to pay for. It counted every failed row as ended: a run
stopped (SIGTERM) while its failed rows waited for their turn under --rpm read `$0.001252 spent,
~$0.001252 projected`, 23 rows short, and the same command then sent those 23 rows.

Through the CLI in real processes, against the emulator over a socket: a first run completes some rows
(priced), a second against a server failing every response is stopped once rows have failed, and a third
against a healthy one sends them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.records import DEFAULT_MAX_ATTEMPTS, usd
from rowrelay.tasks.state import load
from tests.support.cli import IN_PROCESS, ROOT, env_for, exit_code, rowrelay, run_args
from tests.support.runs import creates_per_row
from tests.support.tickets import write_tickets

ROWS = 6
DONE = 3
OUTPUT = 64
HEALTHY = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), output_tokens=(OUTPUT, OUTPUT), seed=4)
"""Answers of one length to prompts of one length: every completed row costs the same."""
FAILING = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), fail_rate=1.0, seed=4)


def _status(state: Path, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    facts = rowrelay(["status", str(state), "--json"], env)
    said = rowrelay(["status", str(state)], env)
    assert facts.returncode == said.returncode == 0, facts.stderr + said.stderr
    return json.loads(facts.stdout), said.stdout


def _stopped_once_rows_failed(args: list[str], env: dict[str, str], state: Path, log: Path) -> None:
    """`rowrelay ARGS` stopped (SIGTERM) once a row holds a failed response: at --rpm 2 a failed row
    waits its turn to be sent again, as a rate-bound run's failed rows do."""
    with log.open("wb") as out:
        run = subprocess.Popen([*IN_PROCESS, *args], cwd=ROOT, env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 120
    try:
        while not (load(state)["status"] == "failed").any():
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
    except AssertionError:
        run.kill()
        run.wait()
        raise
    run.send_signal(signal.SIGTERM)
    assert exit_code(run, log, within=120) == 143, log.read_text()[-3000:]


def test_failed_rows_a_stop_left_with_attempts_are_projected_and_sent_by_the_next_run(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    args = run_args(source, tmp_path)
    state = tmp_path / "state"
    with running_emulator(HEALTHY) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_MAX_OUTPUT_TOKENS=str(OUTPUT))
        first = rowrelay([*args, "--limit", str(DONE)], env)
        assert first.returncode == 0, first.stdout + first.stderr
    with running_emulator(FAILING) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_MAX_OUTPUT_TOKENS=str(OUTPUT))
        _stopped_once_rows_failed([*args, "--rpm", "2"], env, state, tmp_path / "stopped.log")
    frame = load(state)
    failed = frame[frame["status"] == "failed"]
    assert len(failed) >= 1, frame
    assert (failed["attempts"] < DEFAULT_MAX_ATTEMPTS).all(), frame  # each one the plan sends again
    assert set(failed["error_type"]) == {"response_failed"}
    assert (frame["status"] == "completed").sum() == DONE
    facts, said = _status(state, env)
    spent = facts["cost_usd"]
    assert isinstance(spent, float)
    # Every row but the completed ones is sent again: each costs what a completed row cost.
    projected = spent * ROWS / DONE
    assert facts["projected_cost_usd"] == pytest.approx(projected)  # it said `spent`
    assert f"~{usd(projected)} projected for the whole batch" in " ".join(said.split())

    with running_emulator(HEALTHY) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_MAX_OUTPUT_TOKENS=str(OUTPUT))
        last = rowrelay(args, env)
        jobs = creates_per_row(emu)
    assert last.returncode == 0, last.stdout + last.stderr
    assert set(jobs) >= set(failed["row_key"]), jobs  # the same command sent each failed row again
    facts, _ = _status(state, env)
    assert facts["counts"] == {**dict.fromkeys(facts["counts"], 0), "completed": ROWS}
    assert facts["cost_usd"] == pytest.approx(projected)  # what was projected, to the cent's fraction
