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

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run import record
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import run_batch

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
    assert second.counts == {"completed": ROWS}
    frame = load(tmp_path / "batch")
    assert started == Counter(dict.fromkeys(frame["row_key"], 1)), "the second run waited on its job"
    assert (frame["attempts"] == 1).all()
    assert_every_job_is_paid_for(frame, started, unanswered)
