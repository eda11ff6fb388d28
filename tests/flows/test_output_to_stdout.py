"""`--output -` and `--output /dev/stdout` are refused as unsupported, as `-` for the input is: they said
"unknown output extension ''", which read as a typing mistake."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from tests.support.finished_batch import finished_batch


def test_export_to_stdout_is_refused_as_unsupported(emulator: RunningEmulator, tmp_path: Path) -> None:
    state = finished_batch(emulator, tmp_path, 1)
    for stdout in ("-", "/dev/stdout"):
        refused = CliRunner().invoke(app, ["export", str(state), "--output", stdout])
        assert (refused.exit_code, refused.stderr) == (
            2,
            f"error: --output {stdout}: writing the output to stdout is not supported: give a file "
            "(.parquet, .pq, .csv, .tsv, .jsonl, .ndjson)\n",
        )
