"""What `rowrelay repair` says the next run does with rows whose latest version it cannot read: it said
"all of them may have a job on the server ... and the next run sends those again", and a user trial's 40
rows, fallen back to `queued` with their response ids kept, were waited on and none sent again (40 jobs,
40 attempts). It now says what the run plan will do: wait on those holding a response id, send again
those without one, counted, and the counts are the plan's own."""

from __future__ import annotations

import os
from pathlib import Path

from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run.plan import RowPolicy, send_order
from rowrelay.tasks.state import StateTable
from tests.support.cli import rowrelay
from tests.support.damage import planned_batch, truncate


def test_repair_says_which_rows_the_next_run_waits_on_and_which_it_sends_again(tmp_path: Path) -> None:
    _, state, [_, last] = planned_batch(tmp_path)
    truncate(last)  # T-00000, T-00001 fall back to queued with resp-0, resp-1; the other four to pending
    result = rowrelay(["repair", str(state)], dict(os.environ))
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        "any of them may have a job on the server (paid for) that the table no longer names: the next run "
        "waits on the 2 holding a response id, creating nothing for them and sends again the 4 without one "
        "(a second job for any the lost version had sent)"
    ) in said, said
    assert "the next run sends those again" not in said
    with StateTable.open(state) as table:  # what the next run's plan makes of them
        holding = table.columns(HOLDING_TOKEN, ("row_key", "response_id"))
        assert holding.column("response_id").null_count == 0
        assert holding.num_rows == 2
        waited = set(holding.column("row_key").to_pylist())
        order = send_order(table, RowPolicy(batch_id=table.batch_id, model="gpt-4.1-mini"))
        assert len([key for key in order if key not in waited]) == 4  # sent: the plan's own decision
