"""`--output -` and `--output /dev/stdout` are refused as unsupported, as `-` for the input is, by `run`
(before anything starts) and `export`: they said "unknown output extension ''", which read as a typing
mistake."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from tests.support.cli import run_args
from tests.support.finished_batch import finished_batch
from tests.support.tickets import write_tickets


def test_export_to_stdout_is_refused_as_unsupported(emulator: RunningEmulator, tmp_path: Path) -> None:
    state = finished_batch(emulator, tmp_path, 1)
    for stdout in ("-", "/dev/stdout"):
        refused = CliRunner().invoke(app, ["export", str(state), "--output", stdout])
        assert (refused.exit_code, refused.stderr) == (
            2,
            f"error: --output {stdout}: writing the output to stdout is not supported: give a file "
            "(.parquet, .pq, .csv, .tsv, .jsonl, .ndjson)\n",
        )


def test_a_run_to_stdout_is_refused_before_anything_starts(tmp_path: Path) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 2)
    for stdout in ("-", "/dev/stdout"):
        args = [*run_args(source, tmp_path)[:-1], stdout]  # its --output, given as stdout
        refused = CliRunner().invoke(app, args)
        assert (refused.exit_code, refused.stderr) == (
            2,
            f"error: --output {stdout}: writing the output to stdout is not supported: give a file "
            "(.parquet, .pq, .csv, .tsv, .jsonl, .ndjson)\n",
        )
    assert not (tmp_path / "state").exists()  # nothing read, planned or sent
