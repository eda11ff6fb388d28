"""How a run stopped by crashes alike ends: `rowrelay run` says why in one line and exits 1, its console
shows the crash's traceback once, and the flow run is Failed, its message the same line.

A trial's run whose every row crashed alike printed 100 tracebacks (4,072 console lines), sent and paid
for every create, and ended Completed ('100 of 100 rows did not complete (100 orphaned)'), exit 1 with
the rows' counts. The command line is `rowrelay` with a bug that meets every row
(tests/support/crashing_cli.py), against the emulator, on the suite's Prefect server.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run.alike import ALIKE
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.crashing_cli import BUG
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.prefect_records import flow_run_on
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROWS = 60
AT_ONCE = 5
CRASHING = [sys.executable, "-m", "tests.support.crashing_cli"]


async def test_a_run_whose_every_row_crashes_alike_fails_in_one_line_with_one_traceback(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    args = [*run_args(source, tmp_path), "--max-in-flight", str(AT_ONCE)]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))) as emu:
        stopped = rowrelay(args, env_for(prefect_env, emu), command=CRASHING)
        started, unanswered = jobs_of(emu.url)
    err = stopped.stderr
    assert stopped.returncode == 1, err[-3000:]
    last = err.splitlines()[-1]
    assert last.startswith("error: every row crashes alike, so the run stopped sending: "), err[-3000:]
    assert f"AttributeError: {BUG} (raised at tests.support.crashing_cli:" in last
    assert err.count("Traceback (most recent call last)") == 1, err[-6000:]
    frame = load(tmp_path / "state")
    assert ALIKE <= sum(started.values()) < ALIKE + AT_ONCE, started
    attempts = zip(frame["row_key"], frame["attempts"], strict=True)
    assert started == Counter({key: n for key, n in attempts if n})
    assert_every_job_is_paid_for(frame, started, unanswered)
    assert (frame["status"] == "pending").sum() > ROWS - ALIKE - AT_ONCE
    run = await flow_run_on(tmp_path / "state")
    assert run.state is not None
    assert run.state.is_failed(), run.state
    assert "every row crashes alike" in (run.state.message or "")
