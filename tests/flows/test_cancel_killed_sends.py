"""`rowrelay cancel` on a batch whose run was killed while creates were on the wire. Those rows, left
`submitting` with no response id, become orphans as the batch is opened: a job their create may have
started runs on where no cancel can reach it, and is paid for. The command said only what it cancelled
("3 in-flight responses were cancelled; run the batch again to resume the rest", exit 0), and the run it
suggested sends those rows again, perhaps a second paid job each, without a word. It now says both."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import rowrelay
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.killed_mid_send import killed_mid_send

HELD, SENDING = 3, 2
"""Rows the killed run left holding their response ids, and rows it left being sent (no id heard)."""


async def test_the_cancel_command_says_which_jobs_of_a_killed_run_it_cannot_cancel(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:30"))
    with running_emulator(config, clock=ManualClock()) as emu:  # the jobs never end by themselves
        sending = await killed_mid_send(
            state, emu.url, held=HELD, sending=SENDING, output=tmp_path / "out.csv"
        )
        env = {**os.environ, "ROWRELAY_HOME": str(tmp_path / "home")}
        cancel = await asyncio.to_thread(rowrelay, ["cancel", str(state)], env)
        on_server = {job["metadata"]["rowrelay_row"]: job["status"] for job in emu.emulator.listing()}
        started, unanswered = jobs_of(emu.url)
    assert cancel.returncode == 0, cancel.stderr[-3000:]
    assert cancel.stdout.strip() == (
        "3 in-flight responses were cancelled, but 2 rows were being sent when their run was killed: a job "
        "their create may have started has no id to be cancelled by, so it may still run, and be paid for "
        "(counted as orphans); the cancelled rows stay cancelled, which a run does not send again: "
        f"`rowrelay retry {state} --status cancelled` makes them eligible again, then run the batch again "
        "to send them and the rest (it sends those 2 rows again within "
        "their attempts, each perhaps paid for twice, counted on its row; ROWRELAY_ORPHAN_POLICY=hold keeps "
        "them for `rowrelay retry`)"
    )
    frame = load(state).set_index("row_key")
    assert {on_server[key] for key in sending} <= {"queued", "in_progress"}, "running on, as said"
    assert set(frame.loc[sending, "status"]) == {"orphaned"}
    assert {on_server[key] for key in frame.index if key not in sending} == {"cancelled"}
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    assert (frame.loc[sending, "orphans"] == 1).all()
