"""The line a run stopped with no row in flight ends with says what its state table and output hold. It
said "stopped before sending anything" whenever no runner had been stopped: also after every row of the
batch had completed (the run then waiting on a Prefect server that did not answer, its output unwritten)."""

from __future__ import annotations

import time
from pathlib import Path

from rowrelay.flows.stopped_line import stopped_as_found
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import StateTable
from tests.support.finished_batch import finished_batch
from tests.support.state import rows


def test_a_run_stopped_after_its_rows_completed_says_so_and_whether_it_wrote_the_output(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    began = time.time()
    state = finished_batch(emulator, tmp_path, 3)
    output = tmp_path / "out.csv"
    assert stopped_as_found(state, output, began) == (
        f"stopped with no row in flight (3 completed) before writing the output; run the same command to "
        f"resume: it writes {output} and sends only the rows not completed"
    )
    output.write_text("row_key\n")
    assert stopped_as_found(state, output, began) == (
        f"stopped with no row in flight (3 completed), after writing {output}; run the same command to resume"
    )
    # An output left by an earlier run is not this run's
    assert "before writing the output" in stopped_as_found(state, output, time.time() + 60)


def test_a_run_stopped_before_its_plan_sent_nothing(tmp_path: Path) -> None:
    assert stopped_as_found(tmp_path / "state", tmp_path / "out.csv", time.time()) == (
        "stopped before sending anything; run the same command to resume"
    )


def test_a_run_stopped_with_rows_in_flight_no_runner_spoke_of_says_they_may_still_run(tmp_path: Path) -> None:
    """Ctrl-C pressed three times fast cut the run's cancel short before its runner said what it did, and
    the line said `stopped with no row in flight (216 pending, 54 in_progress, 24 completed, 4 orphaned, 2
    submitting)`: 56 responses ran on, and were paid for, with nothing telling the user to cancel them."""
    state = tmp_path / "state"
    with StateTable.open(state, batch_id="b") as table:
        table.add_pending(rows(4))
        for key in ("row-000000", "row-000001"):
            table.transition(key, "submitting")
        table.transition("row-000000", "in_progress", response_id="resp_1")
        table.flush()
    assert stopped_as_found(state, tmp_path / "out.csv", time.time()) == (
        f"stopped with 2 rows in flight (2 pending, 1 in_progress, 1 submitting), not cancelled: their "
        f"responses may still run, and be paid for; `rowrelay cancel {state}` cancels those holding a "
        "response id, or run the same command to resume"
    )
