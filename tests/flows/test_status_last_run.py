"""`rowrelay status` says how the batch's last run ended. People come back to a batch hours later, in
another process, and ask `status` first: it said the rows' counts and whether a live run held the batch,
never whether the last run completed, was stopped (Ctrl-C, the cost cap, `--fail-when-failed`) or was
killed. Each run now marks `run.json` as it starts and notes its end there (flows/run_end.py,
tasks/state/run_end.py); a run killed outright notes none and leaves its lease, stale. Real runs of the
CLI against the emulator over a real socket; `status` in a process of its own, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import RUN_FILE
from tests.support.cli import IN_PROCESS, env_for, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.tickets import write_tickets

WHEN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
"""How status says a time (as `held_by` does): ISO 8601, UTC, to the second."""
EXACT = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), output_tokens=(64, 64), seed=2)


def _last_run(state: Path, env: dict[str, str]) -> tuple[str, dict[str, Any] | None]:
    """Status's line on the last run, and `status --json`'s `last_run`."""
    said = rowrelay(["status", str(state)], env, command=IN_PROCESS)
    assert said.returncode == 0, said.stderr[-3000:]
    lines = [line for line in said.stdout.splitlines() if line.startswith("last run: ")]
    assert len(lines) == 1, said.stdout
    as_json = rowrelay(["status", str(state), "--json"], env, command=IN_PROCESS)
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    last: dict[str, Any] | None = json.loads(as_json.stdout)["last_run"]
    return lines[0], last


@pytest.mark.slow
@pytest.mark.timeout(500)
def test_status_says_a_run_stopped_by_ctrl_c_then_one_running_then_one_killed(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state, here = write_tickets(tmp_path / "tickets.csv", 6), tmp_path / "state", socket.gethostname()
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120"))) as emu:
        env = env_for(prefect_env, emu)
        log = tmp_path / "run.log"
        run = run_until_in_flight(run_args(source, tmp_path), env, state, 6, log)
        run.send_signal(signal.SIGINT)
        assert exit_code(run, log, within=120) == 130, log.read_text()[-3000:]
        line, last = _last_run(state, env)
        # asyncio's runner cancels the run's task on Ctrl-C: a cancel, which does not say whose
        assert re.fullmatch(f"last run: stopped at {WHEN} \\(Ctrl-C, SIGTERM or a cancel\\)", line), line
        assert last is not None
        assert (last["ended"], last["why"]) == ("stopped", "Ctrl-C, SIGTERM or a cancel")

        # The same command again: it sends the cancelled rows again, and waits on them
        again = run_until_in_flight(run_args(source, tmp_path), env, state, 6, tmp_path / "again.log")
        try:
            line, last = _last_run(state, env)
        finally:
            os.kill(again.pid, signal.SIGKILL)  # a crash: no end noted, its lease left behind
            again.wait()
        assert re.fullmatch(f"last run: still running, since {WHEN} \\(host {here}, pid {again.pid}\\)", line)
        assert last is not None
        assert last["ended"] == "running", last

        line, last = _last_run(state, env)
    began = json.loads((state / RUN_FILE).read_text())["began"]["at"]
    assert line == (
        f"last run: killed: began {began} and recorded no end (the lease it left, host {here}, pid "
        f"{again.pid}, is stale: holder pid {again.pid} is gone)"
    )
    assert last is not None
    assert (last["ended"], last["at"]) == ("killed", began)


@pytest.mark.slow
@pytest.mark.timeout(500)
def test_status_says_a_run_capped_one_failed_past_its_threshold_and_one_completed(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = write_tickets(tmp_path / "tickets.csv", 20), tmp_path / "state"
    with running_emulator(EXACT) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_MAX_IN_FLIGHT="3", ROWRELAY_MAX_OUTPUT_TOKENS="64")
        args = [*run_args(source, tmp_path), "--mode", "stream"]
        # The runs themselves are the warm runner's, as a user's are (what ended them is the test's
        # subject, not how they started): each cold one imported Prefect, pandas and the SDK anew.
        capped = rowrelay([*args, "--max-cost", "0.001"], env)
        assert capped.returncode == 1, capped.stderr[-3000:]
        line, last = _last_run(state, env)
        assert re.fullmatch(
            f"last run: stopped by the cost cap at {WHEN} \\(cost cap reached: spent \\$[0-9.]+ of "
            "--max-cost \\$0.001; \\d+ rows not sent; .*\\)",
            line,
        ), line
        assert last is not None
        assert last["ended"] == "capped", last

        # a cap as low, and no row may be left: Failed past --fail-when-failed 0
        failed = rowrelay([*args, "--max-cost", "0.0015", "--fail-when-failed", "0"], env)
        assert failed.returncode == 1, failed.stderr[-3000:]
        assert "Traceback" not in failed.stderr, failed.stderr[-3000:]
        line, last = _last_run(state, env)
        assert re.fullmatch(
            f"last run: failed at {WHEN} \\(\\d+ of 20 rows did not complete \\(\\d+ pending\\): past "
            "--fail-when-failed 0\\)",
            line,
        ), line
        assert last is not None
        assert last["ended"] == "failed", last

        done = rowrelay([*args, "--max-cost", "1"], env)
        assert done.returncode == 0, done.stderr[-3000:]
        line, last = _last_run(state, env)
        assert re.fullmatch(f"last run: completed at {WHEN}", line), line
        assert last is not None
        assert (last["ended"], last["why"]) == ("completed", None), last

    # run.json as a release before it wrote it: no began, no ended (nor an orphan policy)
    record = json.loads((state / RUN_FILE).read_text())
    for name in ("began", "ended", "orphan_policy"):
        del record[name]
    (state / RUN_FILE).write_text(json.dumps(record))
    line, last = _last_run(state, env)
    assert line == "last run: how it ended is not recorded (an older release ran it)"
    assert last == {"ended": "not recorded", "at": None, "why": "an older release ran it"}

    # a malformed one is a damaged record, named, as status says any damaged file of the batch
    (state / RUN_FILE).write_text(json.dumps({**record, "ended": {"how": "exploded", "at": "now"}}))
    damaged = rowrelay(["status", str(state)], env, command=IN_PROCESS)
    assert damaged.returncode == 2, damaged.stderr
    assert f"{state / RUN_FILE}: damaged run record (ended is " in " ".join(damaged.stderr.split())
