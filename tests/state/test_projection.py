"""The projected cost counts the rows the next run sends: a row cancelled as its run stopped (Ctrl-C)
is sent again, so it is not ended. A status after Ctrl-C had said `~$0.02213 projected for the whole
batch`, what was spent, with 154 such rows to send (a trial)."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest

from rowrelay.tasks.records import DEFAULT_MAX_ATTEMPTS, ENDED, ErrorType, RowStatus
from rowrelay.tasks.run.plan import RowPolicy, wants_submit
from rowrelay.tasks.state import RunRecord, StateTable, summary, write_run_record
from tests.support.state import FakeClock, rows

_QUARTER = 0.25


def _sent(table: StateTable, key: str, attempts: int) -> None:
    table.transition(key, "submitting", attempts=attempts)
    table.transition(key, "queued", response_id=f"resp-{key}")


def _cancelled(table: StateTable, key: str, attempts: int, error_type: ErrorType) -> None:
    _sent(table, key, attempts)
    table.transition(key, "cancelled", error_type=error_type, error_message="cancelled")


def test_rows_cancelled_as_the_run_stopped_are_projected_as_rows_still_to_send(
    batch_dir: Path, clock: FakeClock
) -> None:
    """10 rows: 4 completed at a quarter, 3 cut short by a stop (sent again), 1 cut short with its
    attempts used up and 1 cancelled on request (neither sent again), 1 pending. Four rows are left
    to pay for: 1.0 spent, 2.0 projected (it said 1.25: only the pending row left)."""
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(10))
        for i in range(4):
            key = f"row-{i:06d}"
            _sent(table, key, 1)
            table.transition(key, "completed", output_text="ok", input_tokens=1, output_tokens=1)
            table.update(key, cost_usd=_QUARTER)
        for i in range(4, 7):
            _cancelled(table, f"row-{i:06d}", 1, "interrupted")
        _cancelled(table, "row-000007", DEFAULT_MAX_ATTEMPTS, "interrupted")
        _cancelled(table, "row-000008", 1, "cancelled")  # `rowrelay cancel`: stays cancelled
    facts = summary(batch_dir)
    assert facts["counts"]["cancelled"] == 5
    assert facts["cost_usd"] == 1.0
    assert facts["projected_cost_usd"] == 2.0
    assert summary(batch_dir, max_attempts=1)["projected_cost_usd"] == 1.25  # none has an attempt left


@pytest.mark.parametrize("status", sorted(ENDED))
def test_a_row_the_projection_leaves_to_send_is_one_the_plan_sends(
    batch_dir: Path, clock: FakeClock, status: RowStatus
) -> None:
    """The reader may not import the run plan (tasks.state sits below tasks.run): both ask
    `records.ended_sent_again`. For every ended row, by its error type and attempts, the projection
    counts it as left to send exactly when the plan (`wants_submit`) would send it again: a cancelled
    row cut short by a stop, and a failed row with attempts left whose error is not the row's own (it
    counted every failed row as ended, and projected a stopped batch without the rows sent again)."""
    kinds = ("interrupted", "cancelled", "transient", "rejected")
    cases = list(product(kinds, range(DEFAULT_MAX_ATTEMPTS + 2)))
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(len(cases) + 1))
        last = f"row-{len(cases):06d}"
        _sent(table, last, 1)
        table.transition(last, "completed", output_text="ok", input_tokens=1, output_tokens=1)
        table.update(last, cost_usd=_QUARTER)
        expected_left = 0
        policy = RowPolicy(batch_id="b1", model="m", max_attempts=DEFAULT_MAX_ATTEMPTS)
        for i, (error_type, attempts) in enumerate(cases):
            key = f"row-{i:06d}"
            _sent(table, key, attempts)
            row = table.transition(key, status, error_type=error_type, error_message="ended")
            expected_left += wants_submit(row, policy)
    facts = summary(batch_dir)
    assert facts["projected_cost_usd"] == _QUARTER + expected_left * _QUARTER
    # cancelled: interrupted, attempts 0, 1 and 2; failed: all but rejected, attempts 0, 1 and 2
    assert expected_left == {"cancelled": 3, "failed": 9}.get(status, 0)


@pytest.mark.parametrize(("recorded", "left"), [(5, 4), (None, 2)])
def test_the_projection_takes_the_batchs_max_attempts_from_its_run_record(
    batch_dir: Path, clock: FakeClock, recorded: int | None, left: int
) -> None:
    """A batch run with `--max-attempts 5` sends again rows a stop cut short after 3 or 4 attempts: not
    ended. `status` reads no settings, and took the default 3 for every batch; it now reads the run's
    figure from `run.json`. A record an older release wrote holds none: the default, 3."""
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(5))
        _sent(table, "row-000000", 1)
        table.transition("row-000000", "completed", output_text="ok", input_tokens=1, output_tokens=1)
        table.update("row-000000", cost_usd=_QUARTER)
        for i, attempts in enumerate((1, 2, 3, 4), start=1):
            _cancelled(table, f"row-{i:06d}", attempts, "interrupted")
    record = RunRecord(output="o", backend="emulator", model="m", mode="poll", max_attempts=recorded)
    write_run_record(batch_dir, record)
    assert summary(batch_dir)["projected_cost_usd"] == _QUARTER + left * _QUARTER
    assert summary(batch_dir, max_attempts=2)["projected_cost_usd"] == 2 * _QUARTER  # asked: as asked
