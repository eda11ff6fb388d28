"""Inputs `rowrelay run` cannot read, refused as the project's rule says: exit 2 and one line naming the
file, before any request, server start or state, in a process where Prefect cannot be imported (so a
clean refusal proves the flow, the embedded emulator and every request were never reached).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.preforked import Preforked, preforked
from tests.support.refused_run import refused_line


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


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
    assert refused_line(commands, tmp_path, source, *options) == (
        f"error: cannot read {source} as parquet: column 'text' is not UTF-8 text at row 2 (it holds byte "
        "0xe9); write it as UTF-8, or as binary if it holds bytes"
    )


def test_stdin_is_refused_as_unsupported_not_as_a_missing_file(commands: Preforked, tmp_path: Path) -> None:
    assert refused_line(commands, tmp_path, "-", "--template", "{text}") == (
        "error: reading the input from stdin ('-') is not supported: give one CSV, TSV, Parquet, JSONL or "
        "JSON file (.csv, .tsv, .parquet, .pq, .jsonl, .ndjson, .json)"
    )
