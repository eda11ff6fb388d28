"""`rowrelay export` of a batch whose input gained rows since it ran: those rows, never planned, are
`pending` in the output, as the rows a `--limit` left unsent are, since the next run sends them. Their
`rowrelay_status` was empty, a status no row can have."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.finished_batch import finished_batch
from tests.support.tickets import write_tickets


def test_rows_added_to_the_input_after_the_batch_ran_are_exported_as_pending(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    state = finished_batch(emulator, tmp_path, 2)
    write_tickets(tmp_path / "tickets.csv", 3)  # the same two rows, and one more
    exported = CliRunner().invoke(app, ["export", str(state), "--output", str(tmp_path / "out.csv")])
    assert exported.exit_code == 0, exported.stderr
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written["rowrelay_status"]) == ["completed", "completed", "pending"]
    rows = load(state)
    jobs, unanswered = jobs_of(emulator.url)
    assert_every_job_is_paid_for(rows, jobs, unanswered)
    assert "T-00002" not in jobs  # exported, not sent
