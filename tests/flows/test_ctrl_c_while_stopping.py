"""Ctrl-C pressed again while a run cancels its work: the second stops the cancelling, a third (10 ms
later, as a person hammering the key does) is said once, and the stop ends in its one line, the
state table's accounting intact for the same command to resume. It printed some 1,300 lines of
asyncio's tracebacks: the second raised `KeyboardInterrupt` wherever the loop was, and the third cut
the loop's close short (flows/run_loop.py)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from rowrelay.flows.run_loop import ALREADY_STOPPING
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.runs import creates_per_row
from tests.support.tickets import write_tickets

ROWS = 40  # more than the 32 cancels sent at once: the run says it is cancelling, which is waited for


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_ctrl_c_three_times_as_a_run_cancels_ends_in_its_line_and_the_batch_resumes(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state, log = tmp_path / "state", tmp_path / "run.log"
    # Cancels that take 3 s to answer: the run is still cancelling when Ctrl-C comes again.
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:8"), cancel_delay=3.0)
    with running_emulator(config) as emu:
        env = env_for(prefect_env, emu)
        run = run_until_in_flight(run_args(source, tmp_path), env, state, ROWS, log)
        run.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 60
        while f"cancelling {ROWS} in-flight responses" not in log.read_text():
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        time.sleep(0.01)
        run.send_signal(signal.SIGINT)
        assert exit_code(run, log, within=120) == 130, log.read_text()[-3000:]
        said = log.read_text()
        for torn in ("Traceback", "ERROR", "Event loop is closed", "never retrieved"):
            assert torn not in said, said[-5000:]
        assert said.count(ALREADY_STOPPING) <= 1, said
        last = said.strip().splitlines()[-1]
        assert last.startswith("interrupted: "), last
        assert "the cancelling was stopped with" in last, last

        resumed = rowrelay(run_args(source, tmp_path), env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        frame = load(state)
        assert set(frame["status"]) == {"completed"}
        attempts = dict(zip(frame["row_key"], frame["attempts"], strict=True))
        assert dict(creates_per_row(emu)) == attempts, "each row's jobs on the server are its attempts"
