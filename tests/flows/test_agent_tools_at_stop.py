"""`rowrelay run --agent` stopped while its plain (non-async) tools run in threads: the stop says, once, that
it waits for them and that a second Ctrl-C leaves them; the second one ends the command in one line, exit
130, and the next run finishes every row, each job the server started counted on its row and each row's
usage the sum of its responses' (the round whose follow-up was never sent included)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.run.agent_faults import assert_counts_every_response, served
from tests.support.blocking_tools import TOOL, TOOLS_DIR
from tests.support.cli import env_for, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import settings_for
from tests.support.tickets import write_tickets

ROWS = 3
AGENT = "tests.support.blocking_tools:make_agent"


def wait_for(condition: Callable[[], bool], run: subprocess.Popen[bytes], log: Path) -> None:
    """Until `condition` holds; fails with the run's output if the run ends first (or hangs)."""
    deadline = time.monotonic() + 120
    while not condition():
        if run.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the run ended or hung first:\n{log.read_text()[-5000:]}")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_run_stopped_while_sync_tools_run_says_it_waits_and_a_second_ctrl_c_leaves_them(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    tools, state, log = tmp_path / "tools", tmp_path / "state", tmp_path / "run.log"
    tools.mkdir()
    args = [*run_args(source, tmp_path), "--agent", AGENT]
    with running_emulator(EmulatorConfig()) as emu:
        env = env_for(prefect_env, emu, **{TOOLS_DIR: str(tools)})
        run = run_until_in_flight(args, env, state, ROWS, log)
        try:
            wait_for(lambda: len(list(tools.glob("started-*"))) == ROWS, run, log)
            run.send_signal(signal.SIGINT)
            waiting = f"waiting for {ROWS} tool calls still running in threads ({TOOL} x{ROWS})"
            wait_for(lambda: waiting in log.read_text(), run, log)
            run.send_signal(signal.SIGINT)  # the tools still block: the second Ctrl-C leaves them
            assert exit_code(run, log, within=120) == 130, log.read_text()[-5000:]
        finally:
            (tools / "release").touch()
        said = log.read_text()
        assert said.count("waiting for") == 1, said
        assert "a second Ctrl-C leaves them" in said
        assert "Traceback" not in said, said
        assert said.strip().splitlines()[-1].startswith("interrupted: "), said
        frame = load(state)
        assert frame["response_id"].notna().all(), "every row keeps its response: resumable"
        assert not frame["status"].isin(["completed", "failed"]).any()

        done = rowrelay(args, env)  # warm, as a user's next run is
        assert done.returncode == 0, done.stderr[-5000:]
        frame = load(state)
        assert (frame["status"] == "completed").all()
        jobs, unanswered = jobs_of(emu.url)
        # A tool round's follow-up is no second job of its row: the usage check below holds each to the
        # row's record. The row's own creates are held to its attempts and orphans.
        follow_ups = Counter(
            record.body["metadata"]["rowrelay_row"]
            for record in emu.emulator.records.values()
            if record.body.get("previous_response_id")
        )
        assert_every_job_is_paid_for(frame, jobs - follow_ups, unanswered)
        server = asyncio.run(served(emu, settings_for(emu)))
    for _, row in frame.iterrows():
        assert_counts_every_response(row, server[row["row_key"]])
