"""An edited row whose response to its earlier text may still be running is refused with the way on that
works, the first time. A run killed mid-run (`kill -9`), a row's body edited, the run again: it said "1 row
changed input since this batch sent it ...; ... or --resend-edited to send only it again", and following
that advice met a second refusal ("... may still be running ...: `rowrelay cancel STATE` ..., then run
with --resend-edited"). The row in flight is what stands in the way, so that is what the first refusal
says, from the command line's precheck and from the plan of a run from Python alike."""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import StateTable, load
from tests.support.cli import env_for, rowrelay, run_args, run_until_in_flight
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

ROWS = 3


def _edit_body(source: Path, row: int, body: str) -> None:
    frame = pd.read_csv(source, dtype=str)
    frame.loc[row, "body"] = body
    frame.to_csv(source, index=False)


def _still_running(key: str, state: Path, resend: str) -> str:
    """The refusal, its flag as the caller gives it (`resend`: `--resend-edited`, `resend_edited=True`)."""
    return (
        f"1 row changed input while a response to its earlier text may still be running (e.g. {key}): sent "
        "again now, both would be paid for, and the earlier one's answer could land on the new text. Resume "
        f"the batch over its earlier input to collect it, or `rowrelay cancel {state}` (it cancels every "
        f"response of the batch in flight), then run with {resend}"
    )


@pytest.mark.timeout(400)
def test_a_killed_runs_row_edited_while_in_flight_is_refused_as_in_flight_first(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state, args = tmp_path / "state", run_args(source, tmp_path)
    clock = ManualClock()  # the responses stay in progress: the killed run's rows wait on them
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        env = env_for(prefect_env, emu)
        killed = run_until_in_flight(args, env, state, ROWS, tmp_path / "killed.log")
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        _edit_body(source, 1, "Edited while its answer was on the way.")
        refused = rowrelay(args, env)
        jobs, unanswered = jobs_of(emu.url)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert " ".join(refused.stderr.split()).endswith(
        f"error: {_still_running('T-00001', state, '--resend-edited')}"
    ), refused.stderr[-3000:]
    rows = load(state)
    assert set(rows["status"]) <= {"queued", "in_progress"}  # nothing was changed, nothing sent again
    assert_every_job_is_paid_for(rows, jobs, unanswered)


async def test_a_run_from_python_refuses_an_edited_row_in_flight_as_in_flight(
    prefect_api: str, tmp_path: Path
) -> None:
    """The plan's refusal, which a run from Python (and a deployment's) meets: no precheck runs there."""
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig()) as emu:
        args = flow_args(tmp_path, emu)
        state = Path(args["state"])
        await run_batch(str(source), **{**args, "limit": ROWS - 1})  # T-00002 left pending
        with StateTable.open(state) as table:  # as a run killed while it waited left it
            table.transition("T-00002", "submitting")
            table.transition("T-00002", "queued", response_id="resp_left_waiting", attempts=1)
        _edit_body(source, 2, "Edited while its answer was on the way.")
        with pytest.raises(UsageError) as refused:
            await run_batch(str(source), **args)
        jobs, _ = jobs_of(emu.url)
    assert str(refused.value) == _still_running("T-00002", state, "resend_edited=True")
    assert jobs == {f"T-{i:05d}": 1 for i in range(ROWS - 1)}  # nothing sent again
    assert load(state).set_index("row_key").loc["T-00002", "status"] == "queued"  # nothing written
