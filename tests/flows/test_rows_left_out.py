"""Rows removed from a batch's input: `status` counts them apart from the batch's (they are not left to
do), the run's closing cost and `status` count what they cost alike, and put back they resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import RowRequest
from rowrelay.tasks.records import ROW_STATUSES
from rowrelay.tasks.state import StateTable, load, summary
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import flow_args, left_in_flight
from tests.support.tickets import TEMPLATE, write_tickets

REMOVED = ["T-00000", "T-00001", "T-00018", "T-00019"]
"""Two rows a trial completed, two it left pending."""


def _counts(**given: int) -> dict[str, int]:
    return {status: given.get(status, 0) for status in ROW_STATUSES}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_status_counts_rows_removed_from_the_input_apart_and_they_resume_when_put_back(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """The run over the cut input ends `completed`, exit 0; `status` said `rows 20`, `pending 2` and a
    projection for them, with `problems: []`: a monitor reading counts.pending never saw it finish."""
    whole = write_tickets(tmp_path / "tickets.csv", 20)
    cut = tmp_path / "cut.csv"
    frame = pd.read_csv(whole, dtype=str)
    frame[~frame["ticket_id"].isin(REMOVED)].to_csv(cut, index=False)
    state = tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        trial = rowrelay([*run_args(whole, tmp_path), "--limit", "10"], env)
        assert trial.returncode == 0, trial.stderr[-3000:]
        resumed = rowrelay(run_args(cut, tmp_path), env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        facts = json.loads(rowrelay(["status", str(state), "--json"], env).stdout)
        costs = load(state).set_index("row_key")["cost_usd"]
        assert facts["rows"] == 16
        assert facts["counts"] == _counts(completed=16)
        assert facts["not_in_input"] == {
            "rows": 4,
            "counts": _counts(completed=2, pending=2),
            "cost_usd": pytest.approx(costs[REMOVED[:2]].sum()),
        }
        assert facts["cost_usd"] == pytest.approx(costs.sum())  # spent: removed rows' answers were paid
        assert facts["projected_cost_usd"] == pytest.approx(costs.sum())  # nothing left to send
        assert facts["problems"] == []
        said = rowrelay(["status", str(state)], env).stdout
        assert (
            "4 rows not in the last run's input (pending 2, completed 2): left out of the rows above and of "
            "the projection; the $"
        ) in said
        assert "pending" not in said.split("4 rows not in")[0]  # the counts table: completed 16 alone
        assert "rows 16 " in said

        back = rowrelay(run_args(whole, tmp_path), env)
        assert back.returncode == 0, back.stderr[-3000:]
        jobs, unanswered = jobs_of(emu.url)
    assert jobs == Counter({f"T-{i:05d}": 1 for i in range(20)})
    assert_every_job_is_paid_for(load(state), jobs, unanswered)
    facts = summary(state)
    assert (facts["rows"], facts["counts"]["completed"], facts["not_in_input"]["rows"]) == (20, 20, 0)


async def test_the_closing_cost_counts_rows_removed_while_in_flight_as_status_does(
    prefect_api: str, tmp_path: Path
) -> None:
    """Two rows in flight when they were removed from the input: the run waits on them (their jobs run
    and are paid for) and leaves them out of its counts. Its closing cost left out what they cost while
    `status` counted it; both count it now, and `status` says which rows it was."""
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 6)
    prepared = prepare(read_input(source), InputSpec(TEMPLATE, id_column="ticket_id"))
    removed = ["T-00002", "T-00004"]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"))) as emu:
        with StateTable.open(tmp_path / "state") as table:
            table.add_pending(prepared.planned())
            requests = [RowRequest(key, prepared.prompt(key), None, "gpt-4.1-mini", {"rowrelay_row": key})
                        for key in removed]  # fmt: skip
            await left_in_flight(table, emu.url, requests)
        frame = pd.read_csv(source, dtype=str)
        frame[~frame["ticket_id"].isin(removed)].to_csv(source, index=False)
        result = await run_batch(str(source), **flow_args(tmp_path, emu))
        jobs, unanswered = jobs_of(emu.url)
    state = load(tmp_path / "state")
    assert jobs == Counter({f"T-{i:05d}": 1 for i in range(6)})
    assert_every_job_is_paid_for(state, jobs, unanswered)
    assert result.counts == _counts(completed=4)
    costs = state.set_index("row_key")["cost_usd"]
    assert costs[removed].min() > 0
    facts = summary(tmp_path / "state")
    assert result.cost_usd == pytest.approx(costs.sum())
    assert facts["cost_usd"] == pytest.approx(result.cost_usd)
    assert facts["counts"] == result.counts
    assert facts["not_in_input"] == {
        "rows": 2,
        "counts": _counts(completed=2),
        "cost_usd": pytest.approx(costs[removed].sum()),
    }
