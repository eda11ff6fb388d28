"""Inputs whose names or ids are alike but for case or spaces, and Parquet fields given twice, refused by
`rowrelay run` in one line, exit 2, before any request, server start or state (`refused_line`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.preforked import Preforked, preforked
from tests.support.refused_run import refused_line


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


@pytest.mark.parametrize(
    ("column", "result"),
    [("Error", "error"), ("ROWRELAY_STATUS", "rowrelay_status"), ("Cost_USD", "cost_usd")],
)
def test_an_input_column_named_like_a_result_column_but_for_case(
    commands: Preforked, tmp_path: Path, column: str, result: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(f"id,a,{column}\n1,x,y\n")
    line = refused_line(commands, tmp_path, source, "--id-column", "id", "--template", "{a}")
    assert line == (
        f"error: {source}: input column(s) {column} clash with result columns ({column} as {result}: "
        "readers such as DuckDB do not tell names apart by case): rename them in the input"
    )


def test_a_schema_field_named_like_an_input_column_but_for_case(commands: Preforked, tmp_path: Path) -> None:
    source, schema = tmp_path / "in.csv", tmp_path / "schema.json"
    source.write_text("id,text\n1,x\n")
    fields = {"type": "object", "properties": {"Text": {"type": "string"}}, "required": ["Text"]}
    schema.write_text(json.dumps({**fields, "additionalProperties": False}))
    line = refused_line(commands, tmp_path, source, "--template", "{text}", "--schema", str(schema))
    assert line == (
        f"error: --schema {str(schema)!r}: field(s) Text are named like input or result columns; "
        "rename them in the schema"
    )


def test_ids_alike_but_for_spaces(commands: Preforked, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text('id,a\n" 001",x\n"001",y\n')
    line = refused_line(commands, tmp_path, source, "--id-column", "id", "--template", "{a}")
    assert line == (
        "error: id column 'id' has 1 duplicated value(s): '001' ×2 (as ' 001', '001') "
        "(ids must be unique; spaces around one do not make it another)"
    )


def test_a_parquet_field_given_twice(commands: Preforked, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["1", "2"])] * 3, names=["id", "a", "a"]), source)
    line = refused_line(commands, tmp_path, source, "--id-column", "id", "--template", "{a}")
    assert line == f"error: {source} has duplicate column names: a"
