"""A response stuck `queued` past the queued timeout, on a server that cannot cancel it (405: no cancel
route; 400: "Cancel is not supported"). Its job lives on and may yet run and be paid for, so the row sent
again counts it as a possible duplicate. Before, the row was recorded cancelled and sent again with no
orphan counted (a trial: 3 jobs queued for a row, none counted), or, on the 400, crashed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import run_batch

ROWS = 3


@pytest.mark.parametrize("refusal", [400, 405])
async def test_a_stuck_response_the_server_will_not_cancel_is_counted_when_its_row_is_sent_again(
    tmp_path: Path, refusal: int
) -> None:
    config = EmulatorConfig(stuck_rate=1.0, cancel_refusal=refusal)
    with running_emulator(config) as emu:
        report = await run_batch(emu, tmp_path / "batch", ROWS, max_attempts=2, queued_timeout=0.3)
        started, unanswered = jobs_of(emu.url)
        statuses = {response["status"] for response in emu.emulator.listing()}
    frame = load(tmp_path / "batch")
    assert report.crashed_rows == []
    assert report.counts == {"failed": ROWS}
    assert statuses == {"queued"}, "nothing cancelled them: every job lives on"
    assert set(started.values()) == {2}
    assert (frame["attempts"] == 2).all()
    assert (frame["orphans"] == 2).all()
    assert (frame["error_type"] == "queued_timeout").all()
    assert frame["error_message"].str.contains(f"the cancel did not take .*\\({refusal}\\)").all()
    assert_every_job_is_paid_for(frame, started, unanswered)
