"""`rowrelay export` of a batch folder copied from elsewhere (a colleague's scheduled job's batch, copied
to a notebook's machine, or to a path with spaces and accents). run.json names the output its runs
write, as an absolute path, and export wrote there by default: a user trial's export of a copy rewrote
the original batch's output, in another folder, from the copy's rows, saying only `wrote PATH`. Now
export tells the copy from the folder the record was written in, and asks for --output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from rowrelay.tasks.emulator import RunningEmulator
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.tickets import write_tickets


def test_export_of_a_copied_batch_leaves_the_original_output_alone(
    prefect_env: dict[str, str], emulator: RunningEmulator, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    env = env_for(prefect_env, emulator)
    ran = rowrelay(run_args(source, tmp_path), env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    original = tmp_path / "out.csv"
    written = original.read_bytes(), original.stat().st_mtime_ns
    copy = tmp_path / "a colleague's batches" / "état copié"
    shutil.copytree(tmp_path / "state", copy)

    refused = rowrelay(["export", str(copy)], env)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr == (
        f"error: this batch ran in {(tmp_path / 'state').resolve()}, and its folder was copied or moved "
        f"here since: the output on record, {original.resolve()}, is where that folder's runs write "
        "(exporting this one there would overwrite it); pass --output with where to write this one's\n"
    )
    assert (original.read_bytes(), original.stat().st_mtime_ns) == written

    mine = tmp_path / "mine.csv"
    exported = rowrelay(["export", str(copy), "--output", str(mine)], env)
    assert exported.returncode == 0, exported.stderr
    assert list(pd.read_csv(mine)["rowrelay_status"]) == ["completed"] * 3
    again = rowrelay(["export", str(tmp_path / "state")], env)  # the folder itself: its output, as before
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"wrote {original.resolve()}\n", again.stderr
