"""`summary` counts apart the rows the last run's input did not hold (`state.left_out`), reading the keys
its plan noted in `run.json`, and with Arrow alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rowrelay.tasks.errors import DamagedFileError
from rowrelay.tasks.records import ROW_STATUSES
from rowrelay.tasks.state import RunRecord, StateTable, summary, write_run_record
from rowrelay.tasks.state.files import RUN_FILE
from rowrelay.tasks.state.left_out import record_left_out
from tests.support.cli import ROOT
from tests.support.state import FakeClock, rows


def _batch(batch_dir: Path, clock: FakeClock) -> None:
    """Ten rows: 0-3 completed at $0.25 each, the rest pending; the last run's input lacked rows 0 and 9."""
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(10))
        for i in range(4):
            key = f"row-{i:06d}"
            table.transition(key, "submitting", attempts=1)
            table.transition(key, "queued", response_id=f"resp-{i}")
            table.transition(
                key, "completed", output_text="ok", input_tokens=10, output_tokens=20, cost_usd=0.25
            )
    write_run_record(batch_dir, RunRecord(output="o", backend="emulator", model="m", mode="poll"))
    record_left_out(batch_dir, ["row-000000", "row-000009"])


def test_rows_left_out_are_counted_apart_and_what_they_cost_stays_spent(
    batch_dir: Path, clock: FakeClock
) -> None:
    _batch(batch_dir, clock)
    facts = summary(batch_dir)
    assert facts["rows"] == 8
    assert facts["counts"] == dict.fromkeys(ROW_STATUSES, 0) | {"completed": 3, "pending": 5}
    assert facts["not_in_input"] == {
        "rows": 2,
        "counts": dict.fromkeys(ROW_STATUSES, 0) | {"completed": 1, "pending": 1},
        "cost_usd": 0.25,
    }
    assert facts["cost_usd"] == 1.0  # every answer paid for, in the input or not
    assert facts["input_tokens"] == 40
    assert facts["projected_cost_usd"] == 1.0 + 5 * 0.25  # the five pending rows the input holds
    record_left_out(batch_dir, [])  # a later run's input held them all
    again = summary(batch_dir)
    assert (again["rows"], again["counts"]["pending"], again["not_in_input"]["rows"]) == (10, 6, 0)


def test_a_damaged_run_record_is_named_not_read_as_no_rows_left_out(
    batch_dir: Path, clock: FakeClock
) -> None:
    _batch(batch_dir, clock)
    (batch_dir / RUN_FILE).write_text(json.dumps({"output": "o"}))
    with pytest.raises(DamagedFileError):
        summary(batch_dir)
    facts = summary(batch_dir, skip_damaged=True)
    assert facts["rows"] == 10
    assert facts["problems"] == [f"{batch_dir / RUN_FILE}: damaged run record (no backend, model, mode)"]


def test_status_reads_the_rows_left_out_without_pandas(batch_dir: Path, clock: FakeClock) -> None:
    """`pa.array` of the noted keys would import pandas, 1-2 s a `rowrelay status`."""
    _batch(batch_dir, clock)
    code = (
        "import sys\nfrom rowrelay.tasks.state import summary\n"
        "facts = summary(sys.argv[1])\nprint(facts['not_in_input']['rows'], 'pandas' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(batch_dir)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.split() == ["2", "False"], done.stderr
