"""Inputs `rowrelay run` cannot read, refused as the project's rule says: exit 2 and one line naming the
file, before any request, server start or state, in a process where Prefect cannot be imported (so a
clean refusal proves the flow, the embedded emulator and every request were never reached).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.local_prefect import stopped_afterwards
from tests.support.preforked import Preforked, preforked


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


def _refused(commands: Preforked, tmp_path: Path, source: str, *options: str) -> str:
    """`rowrelay run source options`; asserts it was refused cleanly, nothing written; returns its line."""
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ROWRELAY_", "OPENAI_", "AZURE_"))},
        "ROWRELAY_HOME": str(home),
    }
    state, output = tmp_path / "state", tmp_path / "out.jsonl"
    args = ["run", source, "--state", str(state), "--output", str(output), *options]
    with stopped_afterwards(home):  # a regression may get as far as starting a server there
        result = commands.run(args, env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert not state.exists()
    assert not output.exists()
    assert not (home / "emulator.json").exists()
    assert not (home / "prefect-server.json").exists()
    return lines[0]


def _bytes_as_text(values: list[bytes]) -> pa.Array[Any]:
    raw = pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(["--template", "{text}"], id="in the prompt"),
        pytest.param(["--template", "{text}", "--id-column", "text"], id="as the id column"),
        pytest.param(["--template", "{id}", "--id-column", "id"], id="in no prompt"),
    ],
)
def test_a_parquet_text_column_that_is_not_utf8_is_refused_in_one_line_before_anything_starts(
    commands: Preforked, tmp_path: Path, options: list[str]
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": _bytes_as_text([b"ok", b"caf\xe9"])}), source)
    assert _refused(commands, tmp_path, str(source), *options) == (
        f"error: cannot read {source} as parquet: column 'text' is not UTF-8 text at row 2 (it holds byte "
        "0xe9); write it as UTF-8, or as binary if it holds bytes"
    )


def test_stdin_is_refused_as_unsupported_not_as_a_missing_file(commands: Preforked, tmp_path: Path) -> None:
    assert _refused(commands, tmp_path, "-", "--template", "{text}") == (
        "error: reading the input from stdin ('-') is not supported: give one CSV, TSV, Parquet, JSONL or "
        "JSON file (.csv, .tsv, .parquet, .pq, .jsonl, .ndjson, .json)"
    )
