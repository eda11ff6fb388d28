"""An output that cannot be written, as the command line says it: one line, `error: could not write the
output ...`, exit 2. The run's one line came after two of Prefect's tracebacks, about 150 lines (the task
run's failure and the flow run's), because `OutputWriteError` was missing from the errors the console
leaves to the command (`RUN_STOPPERS`); `test_output_unwritable.py` went through `run_batch` only, never
the console. The output's folder becomes a file mid-run, which fails the write on any machine (a tmpfs
filled to the brim needs root)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, exit_code, run_until_in_flight
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.tickets import TEMPLATE, write_tickets

ROWS = 3


def test_an_output_that_cannot_be_written_is_one_line_on_the_console_with_no_traceback(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    folder, state, log = tmp_path / "out", tmp_path / "state", tmp_path / "run.log"
    folder.mkdir()
    args = ["run", str(source), "--template", TEMPLATE, "--id-column", "ticket_id", "--state", str(state),
            "--output", str(folder / "out.csv")]  # fmt: skip
    clock = ManualClock()  # the responses run until the test moves it: the folder is swapped meanwhile
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        run = run_until_in_flight(args, env_for(prefect_env, emu), state, ROWS, log)
        shutil.rmtree(folder)
        folder.write_text("where the output's folder was: it cannot be written now")
        clock.advance(31)  # the responses end, and the run writes its output
        code = exit_code(run, log, within=180)
        jobs, unanswered = jobs_of(emu.url)
    said = log.read_text()
    assert code == 2, said[-3000:]
    assert "Traceback" not in said, said[-6000:]
    assert "Task run failed" not in said, said[-6000:]
    assert "Finished in state Failed" not in said, said[-6000:]
    errors = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, said[-3000:]
    assert errors[0].startswith(f"error: could not write the output {folder / 'out.csv'} ("), errors[0]
    assert errors[0].endswith(
        f"`rowrelay export {state}` writes it once there is room (nothing is sent again)"
    ), errors[0]
    rows = load(state)
    assert (rows["status"] == "completed").all()
    assert_every_job_is_paid_for(rows, jobs, unanswered)
