"""A bug or surprise in one row's drive (rowrelay's own, or a server's answer it cannot read) ends that row
in this run and never the batch, and never makes a paid job uncounted: a row that crashed with its
create on the way counts the create as one that may have started a job; a row that crashed holding its
token keeps it, and a later run waits on that job instead of paying for another.

The crash is made by making rowrelay's own recording of one row raise, where a parse or a bug would.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.run import follow_up_record, open_session, record
from rowrelay.tasks.run.context import RowContext
from rowrelay.tasks.run.record import Change
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import new_table, prompts, run_batch, settings_for

ROWS = 6
VICTIM = "row-0002"


def _raising_for(victim: str, original: Any) -> Any:
    """`original`, raising for the row `victim` (the row is the function's second argument)."""

    def patched(*args: Any, **kwargs: Any) -> Any:
        if args[1].row_key == victim:
            raise RuntimeError("a surprise in this row's answer")
        return original(*args, **kwargs)

    return patched


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_row_that_crashes_with_its_create_on_the_way_counts_it_and_the_batch_goes_on(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "accepted", _raising_for(VICTIM, record.accepted))
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))
    with running_emulator(config) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows=ROWS, mode=mode, max_attempts=1)
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "batch").set_index("row_key", drop=False)
    assert report.crashed_rows == [VICTIM]
    assert started == Counter(dict.fromkeys(frame["row_key"], 1)), "its job was started, once"
    victim = frame.loc[VICTIM]
    assert (victim["status"], victim["attempts"], victim["orphans"]) == ("orphaned", 1, 1)
    assert "RuntimeError: a surprise in this row's answer" in victim["error_message"]
    assert (frame.drop(VICTIM)["status"] == "completed").all()
    assert_every_job_is_paid_for(frame.reset_index(drop=True), started, unanswered)


async def test_a_row_that_crashes_holding_its_token_keeps_it_and_the_next_run_waits_on_its_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))
    with running_emulator(config) as emu:
        with monkeypatch.context() as patched:
            patched.setattr(record, "ended", _raising_for(VICTIM, record.ended))
            first = await run_batch(emu, tmp_path / "batch", rows=ROWS, mode="poll")
        held = load(tmp_path / "batch").set_index("row_key").loc[VICTIM]
        second = await run_batch(emu, tmp_path / "batch", rows=ROWS, mode="poll")
        started, unanswered = jobs_of(emu.url)
    assert first.crashed_rows == [VICTIM]
    assert held["status"] in ("queued", "in_progress")
    assert held["response_id"] is not None
    assert held["note"] == (  # why it is still in flight
        "crashed while waited on (RuntimeError: a surprise in this row's answer); "
        "the next run waits on it again"
    )
    assert second.counts == {"completed": ROWS}
    frame = load(tmp_path / "batch")
    assert started == Counter(dict.fromkeys(frame["row_key"], 1)), "the second run waited on its job"
    assert (frame["attempts"] == 1).all()
    assert_every_job_is_paid_for(frame, started, unanswered)


async def test_a_row_that_crashes_after_its_end_was_written_keeps_it_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failing a completed row is a move the table refuses: the `IllegalTransition` escaped the handler
    meant to keep one row's crash from the batch, and the whole run stopped (a failed or incomplete row
    had its paid outcome written over with `internal`)."""
    original = RowContext.apply

    def apply_then_raise(context: RowContext, key: str, change: Change) -> None:
        original(context, key, change)
        if key == VICTIM and change.status == "completed":
            raise RuntimeError("a surprise after this row's end was written")

    monkeypatch.setattr(RowContext, "apply", apply_then_raise)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows=ROWS, mode="poll")
        started, unanswered = jobs_of(emu.url)
    assert report.crashed_rows == [VICTIM]
    assert report.counts == {"completed": ROWS}
    frame = load(tmp_path / "batch")
    assert frame.set_index("row_key").loc[VICTIM, "output_text"]  # its answer, as recorded
    assert_every_job_is_paid_for(frame, started, unanswered)


async def test_a_crash_with_the_create_on_its_way_keeps_its_estimate_as_maybe_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under --max-cost, a create that may have started a job counts against the cap as maybe spent,
    as when its answer is lost; a crashed row's was released, as if nothing had been sent."""
    monkeypatch.setattr(record, "accepted", _raising_for(VICTIM, record.accepted))
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))) as emu:
        table = new_table(tmp_path / "batch", ROWS)
        session = open_session(settings_for(emu, max_attempts=1, max_cost=10.0), table, prompts(ROWS))
        try:
            report = await session.runner.run()
            spend = session.driver.context.spend
        finally:
            await session.aclose()
            table.close()
    assert report.crashed_rows == [VICTIM]
    assert spend.ledger.lost > 0


async def test_a_crash_while_a_tool_rounds_follow_up_is_on_its_way_keeps_the_note_that_counts_it(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The note a follow-up create leaves under (written before it is sent) is how the next run counts
    it, an attempt and an orphan, if its answer never came: the crash's own note was written over it, and
    the next run made the round again, the lost create counted nowhere."""
    table = new_table(tmp_path / "batch", 1)
    key = "row-0000"
    table.transition(key, "submitting")
    table.transition(key, "in_progress", response_id="resp_asked_for_tools")
    session = open_session(settings_for(emulator), table, prompts(1))
    try:
        context = session.driver.context
        context.apply(key, follow_up_record.follow_up_leaving(table.get(key)))
        session.driver.crashed(key, RuntimeError("a surprise in the tool round"))
        assert follow_up_record.follow_up_unanswered(table.get(key))
    finally:
        await session.aclose()
        table.close()
