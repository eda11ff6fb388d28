"""A run whose batch's lease is lost (another runner took the batch over) stops with the lease's error; no
row is recorded as crashed, and none counts an attempt for a create that never left.

The lost lease is raised by the group commit every row waits on (`Lease.check` before each segment): the
row handler took it for each row's own crash, so every waiting row was logged "row ... crashed" and had
the crash recorded on it, a `submitting` row whose write-ahead commit failed was counted an attempt and
an orphan though its create never left, and when the run's first 5 rows met it, the run stopped as if a
bug crashed every row alike ("A bug, rowrelay's or the agent's: report it"), the wrong cause.

The lease is taken as another runner takes it: its file rewritten with a token of its own, here at a
chosen moment of the run (before it starts, or as a row's create is accepted).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.run import open_session, record
from rowrelay.tasks.state import StateTable
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.leaks import every_log_record
from tests.support.runs import new_table, prompts, settings_for

ROWS = 40
TAKEN_AT = 10
"""The accepted create (counted from 1) as which the batch is taken over, mid-run."""


def _taken_over(table: StateTable) -> None:
    """The batch's lease rewritten as another runner's: its token no longer this run's."""
    path = table.lease.path
    lease = json.loads(path.read_text())
    path.write_text(json.dumps({**lease, "token": "another-runner"}))


def _rows_of(table: StateTable) -> pd.DataFrame:
    """The table's rows as this run left them in memory (none can be written once the lease is lost)."""
    rows = [table.get(f"row-{i:04d}") for i in range(ROWS)]
    return pd.DataFrame([row._asdict() for row in rows])


async def _run_losing_the_lease(tmp_path: Path, mode: str, taken_at: int) -> tuple[pd.DataFrame, list[str]]:
    """A run whose lease is lost before it starts (`taken_at` 0) or as its `taken_at`th create is
    accepted; checks it ends with the lease's error, no crash logged, and every attempt a job the server
    started (and every job counted). Its rows in memory and its log records."""
    table = new_table(tmp_path / "state", ROWS)
    accepted = record.accepted
    seen = 0

    def taken_over_at(*args: Any, **kwargs: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen == taken_at:
            _taken_over(table)
        return accepted(*args, **kwargs)

    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))) as emu:
        with pytest.MonkeyPatch.context() as patched, every_log_record() as logged:
            patched.setattr(record, "accepted", taken_over_at)
            if taken_at == 0:
                _taken_over(table)
            session = open_session(settings_for(emu, mode=mode, max_in_flight=8), table, prompts(ROWS))
            try:
                with pytest.raises(LeaseHeldError, match="lease lost, now held by") as stopped:
                    await session.runner.run()
            finally:
                await session.aclose()
                frame = _rows_of(table)
                with pytest.raises(LeaseHeldError):
                    table.close()  # its last flush refused too: the batch is another runner's
        started, unanswered = jobs_of(emu.url)
    chain: list[BaseException] = []
    error: BaseException | None = stopped.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert all(isinstance(each, LeaseHeldError) for each in chain), chain
    assert [line for line in logged if " crashed" in line or "crashes alike" in line] == []
    assert frame["note"].isna().all(), frame["note"].dropna().tolist()
    assert not frame["error_type"].eq("internal").any()
    # Every attempt counted is a job the server started, and every job is counted on its row.
    attempts = zip(frame["row_key"], frame["attempts"], strict=True)
    assert started == Counter({key: n for key, n in attempts if n})
    assert_every_job_is_paid_for(frame, started, unanswered)
    return frame, logged


async def test_a_lease_lost_before_the_first_create_stops_the_run_with_nothing_sent(tmp_path: Path) -> None:
    frame, _ = await _run_losing_the_lease(tmp_path, "poll", taken_at=0)
    assert frame["attempts"].eq(0).all()
    assert frame["orphans"].eq(0).all()


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_lease_lost_mid_run_stops_it_with_the_lease_error_and_no_crash(
    tmp_path: Path, mode: str
) -> None:
    frame, _ = await _run_losing_the_lease(tmp_path, mode, taken_at=TAKEN_AT)
    assert frame["attempts"].sum() >= TAKEN_AT  # the creates answered before it, and as it was lost
    assert (frame["attempts"] == 0).any()  # rows not yet sent stay so
