"""A finished batch whose snapshot was deleted is refused by every command, naming the loss and the way on,
rather than read as a batch of no rows: `status` said "rows 0", exit 0, and `run` planned every row again
and paid for each a second time, saying nothing (the trial's `rm data/state/dmg2/snapshots/*.parquet`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import MissingVersionsError
from rowrelay.tasks.state import StateTable, check_state_files, load
from rowrelay.tasks.state.files import SNAPSHOTS
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.finished_batch import finished_batch

ROWS = 12


def test_a_finished_batch_whose_snapshot_was_deleted_is_refused_not_sent_again(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    state = finished_batch(emulator, tmp_path, ROWS)
    counted = load(state)
    assert list(counted["status"]) == ["completed"] * ROWS
    for snapshot in (state / SNAPSHOTS).glob("*.parquet"):
        snapshot.unlink()

    for command in (["status"], ["export"]):
        result = CliRunner().invoke(app, [*command, str(state)])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {state}: no state file holds versions 1-"), result.stderr
        assert f"of {ROWS} rows, the newest its writer recorded" in result.stderr
        assert f"run `rowrelay repair {state}`" in result.stderr
        assert result.stderr.count("\n") == 1
    with pytest.raises(MissingVersionsError):
        check_state_files(state)  # `run`'s check before anything starts
    with pytest.raises(MissingVersionsError):
        StateTable.open(state)  # and the table a run resumes through: no row planned again

    jobs, unanswered = jobs_of(emulator.url)
    assert jobs == dict.fromkeys(counted["row_key"], 1)  # nothing was sent after the loss
    assert_every_job_is_paid_for(counted, jobs, unanswered)

    repaired = CliRunner().invoke(app, ["repair", str(state)])
    assert repaired.exit_code == 0, repaired.output
    assert f"{ROWS} rows may have lost their latest version" in repaired.output, repaired.output
    assert CliRunner().invoke(app, ["status", str(state)]).exit_code == 0  # the loss accepted knowingly
