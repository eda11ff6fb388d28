"""`rowrelay status | export | cancel | retry | repair` with no STATE: the batch a run made here, under
its default state directory (flows/default_batch.py), as the installed command runs in the user's folder;
and `export` with no `--output`: the batch's own output."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state.files import BATCH_FILE
from tests.support.cli import rowrelay
from tests.support.finished_batch import finished_batch
from tests.support.local_prefect import environment
from tests.support.runs import new_table


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The user's environment without rowrelay's, Prefect's or a key's settings; a home of the test's."""
    return environment(tmp_path / "home", tmp_path / "client-prefect", **extra)


def _batch(directory: Path, rows: int, made_at: float) -> None:
    """A batch of `rows` pending rows at `directory`, last run at `made_at` (epoch seconds)."""
    table = new_table(directory, rows)
    table.close()
    os.utime(directory / BATCH_FILE, (made_at, made_at))


def test_with_no_batch_here_the_command_says_where_it_looked(tmp_path: Path) -> None:
    done = rowrelay(["status"], _environment(tmp_path), cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: no batch under data/state here: name its state directory (`rowrelay status STATE`)\n"
    )


def test_status_and_export_take_the_batch_run_last_and_say_which(tmp_path: Path) -> None:
    _batch(tmp_path / "data" / "state" / "older", 3, 1_700_000_000)
    _batch(tmp_path / "data" / "state" / "newer", 5, 1_700_000_100)
    done = rowrelay(["status"], _environment(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "batch data/state/newer, the last run of 2 under data/state (`rowrelay status STATE` names another)\n"
    )
    assert "batch newer" in done.stdout
    assert "rows 5 " in done.stdout
    older = rowrelay(["status", "data/state/older"], _environment(tmp_path), cwd=tmp_path)
    assert (older.returncode, older.stderr) == (0, "")
    assert "rows 3 " in older.stdout
    exported = rowrelay(["export", "--output", "out.csv"], _environment(tmp_path), cwd=tmp_path)
    assert exported.stderr.startswith("batch data/state/newer, the last run of 2 under data/state ")


@pytest.mark.parametrize("command", ["cancel", "retry", "repair"])
def test_a_command_that_changes_a_batch_takes_one_only_when_it_is_the_only_one(
    tmp_path: Path, command: str
) -> None:
    _batch(tmp_path / "data" / "state" / "older", 3, 1_700_000_000)
    _batch(tmp_path / "data" / "state" / "newer", 5, 1_700_000_100)
    refused = rowrelay([command], _environment(tmp_path), cwd=tmp_path)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        f"error: 2 batches under data/state: name the one to {command} (`rowrelay {command} STATE`): "
        "data/state/newer, data/state/older\n"
    )


def test_retry_takes_the_only_batch_and_the_state_directory_variable_is_honoured(tmp_path: Path) -> None:
    elsewhere = tmp_path / "states"
    _batch(elsewhere / "only", 3, 1_700_000_000)
    env = _environment(tmp_path, ROWRELAY_STATE_DIR=str(elsewhere))
    done = rowrelay(["retry"], env, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")  # the only one: nothing to say about the choice
    # One line, as a script reads it: the console wrapped it at 80 columns when piped.
    assert (
        done.stdout
        == "no row is failed or incomplete or expired or orphaned: nothing to make eligible again\n"
    )


def test_export_with_no_output_writes_the_batchs_own(tmp_path: Path, emulator: RunningEmulator) -> None:
    state = finished_batch(emulator, tmp_path, 4)  # its run's output: tmp_path/out.csv (never written)
    done = rowrelay(["export", str(state)], _environment(tmp_path), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert " ".join(done.stdout.split()) == f"wrote {tmp_path / 'out.csv'}"
    written = pd.read_csv(tmp_path / "out.csv")
    assert (len(written), set(written["rowrelay_status"])) == (4, {"completed"})
    (state / "run.json").unlink()  # its record gone: no output on record, nor how the input was read
    refused = rowrelay(["export", str(state)], _environment(tmp_path), cwd=tmp_path)
    assert (refused.returncode, refused.stderr) == (
        2,
        "error: this batch has no run on record (run.json): export reads the input as the run did, "
        "which only that record says (`rowrelay status` still reads the rows)\n",
    )
