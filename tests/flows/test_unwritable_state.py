"""A batch whose folder cannot be written any more (a disk gone read-only on I/O errors, a full disk): the
commands that change it (`retry`, `cancel`, `repair`) are refused in the one line a run's full disk is
said in, exit 2, and a table that closes there keeps the error that stopped it. `retry`, `cancel` and
`repair` ended in a traceback and exit 1 (EROFS opening the lease's lock, which a cron wrapper reads as
"some rows failed"), and the run's own one line was hidden behind the lease's release failing the same
way as the table closed.

The folder is made unwritable without root (the suite may run as any user, and root writes through a
read-only mode): a file where a folder must be (or a folder where a file must be) fails every write
there as a folder gone read-only does."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.files import LEASES
from rowrelay.tasks.state_folder_errors import StateWriteError
from tests.support.finished_batch import finished_batch


def _unwritable(state: Path) -> None:
    shutil.rmtree(state / LEASES, ignore_errors=True)
    (state / LEASES).write_text("not a folder")


@pytest.mark.parametrize("command", [["retry"], ["cancel"], ["repair"]])
def test_a_command_that_changes_an_unwritable_batch_says_so_in_one_line(
    emulator: RunningEmulator, tmp_path: Path, command: list[str]
) -> None:
    state = finished_batch(emulator, tmp_path, 2)
    _unwritable(state)
    result = CliRunner().invoke(app, [*command, str(state)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: could not write the state table ({state / LEASES}"), (
        result.stderr
    )
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_a_table_closing_on_an_unwritable_folder_keeps_the_error_that_stopped_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = StateTable.open(tmp_path / "state", batch_id="b")
    table.add_pending([("r1", 0, "h1")])
    table.transition("r1", "submitting")  # a change the close writes
    # Its segments and its lease's lock cannot be written (read, they can): a folder gone read-only.
    (tmp_path / "state" / "segments").rename(tmp_path / "elsewhere")
    (tmp_path / "state" / "segments").write_text("not a folder")
    lock = tmp_path / "state" / LEASES / "main.lock"
    lock.unlink()
    lock.mkdir()
    with caplog.at_level(logging.WARNING), pytest.raises(StateWriteError):
        table.close()
    assert "could not give the lease up" in caplog.text  # the next run takes it over as stale
