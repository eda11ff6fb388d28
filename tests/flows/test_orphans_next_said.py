"""What `status` and `cancel` say the next run does with rows a killed run left being sent, as it does it.

Both said the next run "sends them again" whatever it would do: under ROWRELAY_ORPHAN_POLICY=hold it
holds them for `rowrelay retry` (and cancel's line suggested setting hold, already set), and a row whose
attempts are used up is not sent again at all. One decision (`state.orphans.orphan_fate`) now gives the
run plan's choice, the row's note and both lines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.records import Policy
from rowrelay.tasks.run import RowPolicy, wants_submit
from rowrelay.tasks.state import RunRecord, load, write_run_record
from rowrelay.tasks.state.changes import new_pending
from rowrelay.tasks.state.orphans import orphan_fate
from tests.support.cli import rowrelay
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.killed_mid_send import killed_mid_send
from tests.support.runs import new_table

HELD, SENDING = 1, 2
"""Rows the killed run left holding their response ids, and rows it left being sent (no id heard)."""

NEXT_RUN = {
    "hold": (
        {"ROWRELAY_ORPHAN_POLICY": "hold"},
        None,
        "holds those 2 rows for `rowrelay retry`, as ROWRELAY_ORPHAN_POLICY=hold asks",
        "held for `rowrelay retry`",
    ),
    "attempts used up": (
        {},
        1,
        "sends those 2 rows no more, their attempts used up: `rowrelay retry` makes them eligible again",
        "gave up after 1 attempts",
    ),
    # The batch's own attempts, not this shell's: cancel took ROWRELAY_MAX_ATTEMPTS, so a batch run with
    # the default read "sends no more" of rows its next run (the same command) sends again.
    "the batch's attempts": (
        {"ROWRELAY_MAX_ATTEMPTS": "1"},
        None,
        "sends those 2 rows again within their attempts, each perhaps paid for twice, counted on its row; "
        "ROWRELAY_ORPHAN_POLICY=hold keeps them for `rowrelay retry`",
        "it will be sent again",
    ),
}


@pytest.mark.parametrize("case", NEXT_RUN)
async def test_cancel_says_what_the_next_run_does_with_the_rows_it_found_being_sent(
    tmp_path: Path, case: str
) -> None:
    variables, recorded, then, noted = NEXT_RUN[case]
    state = tmp_path / "state"
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:30"))
    with running_emulator(config, clock=ManualClock()) as emu:  # the jobs never end by themselves
        sending = await killed_mid_send(
            state, emu.url, held=HELD, sending=SENDING, output=tmp_path / "out.csv", max_attempts=recorded
        )
        env = {**os.environ, "ROWRELAY_HOME": str(tmp_path / "home"), **variables}
        cancel = await asyncio.to_thread(rowrelay, ["cancel", str(state)], env)
        started, unanswered = jobs_of(emu.url)
    assert cancel.returncode == 0, cancel.stderr[-3000:]
    said = cancel.stdout.strip()
    assert said.endswith(f"then run the batch again to send them and the rest (it {then})"), said
    assert said.count("those 2 rows") == 1, said  # one fate said of them, no other beside it
    frame = load(state).set_index("row_key")
    assert set(frame.loc[sending, "status"]) == {"orphaned"}
    assert all(noted in note for note in frame.loc[sending, "note"])  # the row's note says the same
    assert (frame.loc[sending, "orphans"] == 1).all()
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)


@pytest.mark.parametrize("case", NEXT_RUN)
def test_status_says_what_the_next_run_does_with_rows_left_being_sent(tmp_path: Path, case: str) -> None:
    variables, recorded, then, _noted = NEXT_RUN[case]
    state = tmp_path / "state"
    table = new_table(state, 3)
    for key in ("row-0001", "row-0002"):  # being sent when the run was killed: no create went out here
        table.transition(key, "submitting")
    table.close()
    _recorded(state, recorded)  # status, as cancel, reads the batch's attempts there, not the environment's
    env = {**os.environ, "ROWRELAY_HOME": str(tmp_path / "home"), **variables}
    status = rowrelay(["status", str(state)], env)
    assert status.returncode == 0, status.stderr[-3000:]
    said = " ".join(status.stdout.split())
    assert f"counts each as maybe sent (an attempt and an orphan) and {then}" in said, said
    assert "sends them again" not in said


BY_THE_BATCH = {
    "run with 5, two attempts spent": (
        5,
        2,
        "sends those 2 rows again within their attempts, each perhaps paid for twice",
    ),
    "run with 1, none spent": (1, 0, "sends those 2 rows no more, their attempts used up"),
    "an older release's record": (None, 2, "sends those 2 rows no more, their attempts used up"),
}
"""The batch's max_attempts as its run recorded it (None: a record of a release before it said, read as
the default 3), the attempts its rows being sent had spent, and what status says the next run does."""


@pytest.mark.parametrize("case", BY_THE_BATCH)
def test_status_says_what_the_next_run_does_with_rows_left_being_sent_by_the_batchs_max_attempts(
    tmp_path: Path, case: str
) -> None:
    """By the batch's own --max-attempts, which its run recorded, as its projection counts and the same
    command sends: status took the environment's (3 unless ROWRELAY_MAX_ATTEMPTS said), so a batch run
    with --max-attempts 5 read "sends no more" of rows the next run sends again (and the reverse)."""
    recorded, spent, then = BY_THE_BATCH[case]
    state = tmp_path / "state"
    table = new_table(state, 3)
    for key in ("row-0001", "row-0002"):  # being sent when the run was killed: no create went out here
        table.transition(key, "submitting", attempts=spent)
    table.close()
    _recorded(state, recorded)
    env = {**os.environ, "ROWRELAY_HOME": str(tmp_path / "home")}
    env.pop("ROWRELAY_MAX_ATTEMPTS", None)
    status = rowrelay(["status", str(state)], env)
    assert status.returncode == 0, status.stderr[-3000:]
    said = " ".join(status.stdout.split())
    assert f"counts each as maybe sent (an attempt and an orphan) and {then}" in said, said


def _recorded(state: Path, max_attempts: int | None) -> None:
    """The batch's run record, as its last run wrote it with `max_attempts` (None: as a release before
    the field did)."""
    record = RunRecord(
        output=str(state.parent / "out.csv"), backend="emulator", model="gpt-4.1-mini", mode="poll"
    )
    write_run_record(state, dataclasses.replace(record, max_attempts=max_attempts))


@pytest.mark.parametrize("policy", ["resubmit", "hold"])
def test_the_plan_sends_an_orphan_again_exactly_when_its_fate_says_so(policy: Policy) -> None:
    pending = new_pending("k", 0, "h", now=datetime(2027, 1, 1, tzinfo=UTC), writer="main")
    for attempts in range(5):
        row = pending._replace(status="orphaned", attempts=attempts)
        sent = wants_submit(row, RowPolicy("b", "m", orphan_policy=policy, max_attempts=3))
        assert sent == (orphan_fate(attempts, 3, policy) == "sent again")
