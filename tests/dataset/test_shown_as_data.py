"""Reading 4: values shown and keyed as what they are, and the input's own types kept in the output.

A Parquet map reached the prompt as a list of pairs (`[["a", 1]]`) and the Parquet output as text, with a
warning that it held "values of several types"; a decimal128(10, 4) came back as decimal128(6, 4); bytes
reached the prompt as Python's `b'\\x00\\x01'`; an infinite float became null in JSON lines; a JSON id
column holding one `1.5` keyed `2` as "2.0", and ids `"1"` and `1.0` apart. A batch planned by an earlier
reading keeps its keys and prompts (`readings`): each change is checked against reading 3 too.
"""

from __future__ import annotations

import decimal
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.dataset import (
    RESULT_COLUMNS,
    InputSpec,
    read_input,
    read_prepared,
    reads_alike,
    write_output,
)
from rowrelay.tasks.errors import UsageError

_BEFORE = 3
"""The reading before values were shown as data."""


def _prompts(source: Path | pd.DataFrame, template: str, reading: int = 4, **spec: Any) -> list[str]:
    prepared = read_prepared(source, InputSpec(template=template, **spec), reading)
    return [prepared.prompts.at(i) for i in range(len(prepared.frame))]


def _results(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"row_index": range(rows), **{name: [None] * rows for name in RESULT_COLUMNS}})


def _typed(path: Path) -> Path:
    maps = pa.array([[("a", 1), ("b", 2)], [], None], pa.map_(pa.string(), pa.int64()))
    amounts = pa.array([decimal.Decimal("12.3400"), None, decimal.Decimal("-0.0001")], pa.decimal128(10, 4))
    pq.write_table(pa.table({"id": ["x", "y", "z"], "m": maps, "amount": amounts}), path)
    return path


def test_a_parquet_map_is_a_json_object_in_prompts_and_outputs(tmp_path: Path) -> None:
    source = _typed(tmp_path / "in.parquet")
    assert _prompts(source, "m={m}") == ['m={"a": 1, "b": 2}', "m={}", "m="]
    assert _prompts(source, "m={m}", _BEFORE) == ['m=[["a", 1], ["b", 2]]', "m=[]", "m="]  # as planned
    written = write_output(read_input(source), _results(3), tmp_path / "out.jsonl")
    assert [orjson.loads(line)["m"] for line in written.read_bytes().splitlines()] == [
        {"a": 1, "b": 2},
        {},
        None,
    ]


def test_a_map_repeating_a_key_keeps_its_pairs_rather_than_lose_one(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    maps = pa.array([[("a", 1), ("a", 2)]], pa.map_(pa.string(), pa.int64()))
    pq.write_table(pa.table({"m": maps}), source)
    assert _prompts(source, "{m}") == ['[["a", 1], ["a", 2]]']


@pytest.mark.parametrize("reading", [4, 3, 1])
def test_the_parquet_output_keeps_the_inputs_map_and_decimal_types_without_a_warning(
    tmp_path: Path, reading: int, caplog: pytest.LogCaptureFixture
) -> None:
    source = _typed(tmp_path / "in.parquet")
    written = write_output(read_input(source, reading), _results(3), tmp_path / "out.parquet")
    schema = pq.read_schema(written)
    assert schema.field("m").type == pa.map_(pa.string(), pa.int64())
    assert schema.field("amount").type == pa.decimal128(10, 4)
    assert schema.names[:3] == ["id", "m", "amount"]
    table = pq.read_table(written)
    assert table.column("m").to_pylist() == [[("a", 1), ("b", 2)], [], None]
    assert table.column("amount").to_pylist()[0] == decimal.Decimal("12.3400")
    assert not [record for record in caplog.records if "several types" in record.getMessage()]
    assert pd.read_parquet(written).attrs == {}  # the note on the frame is not the data's


def test_an_infinite_float_is_written_to_json_lines_as_text_not_as_a_missing_value(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"f": [1.5, float("inf"), float("-inf"), float("nan"), None]}), source)
    written = write_output(read_input(source), _results(5), tmp_path / "out.jsonl")
    values = [orjson.loads(line)["f"] for line in written.read_bytes().splitlines()]
    assert values == [1.5, "inf", "-inf", None, None]  # as CSV and prompts show it; NaN is a missing number


def test_bytes_in_a_prompt_are_their_text_or_else_base64(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    columns = {
        "text": pa.array(["café".encode(), None, b"plain"], pa.binary()),  # a string a writer kept as binary
        "blob": pa.array([b"\x00\x01", None, b"hi"], pa.binary()),  # decodes, but is not text
        "raw": pa.array([b"\xff\xfe", None, b"ok"], pa.binary()),
    }
    pq.write_table(pa.table(columns), source)
    assert _prompts(source, "{text}|{blob}|{raw}") == ["café|AAE=|//4=", "||", "plain|aGk=|b2s="]
    assert _prompts(source, "{text}|{blob}", _BEFORE)[0] == "b'caf\\xc3\\xa9'|b'\\x00\\x01'"  # as planned


def test_a_whole_number_id_written_as_a_decimal_is_keyed_as_an_integer(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1.5, "text": "a"}\n{"id": 2, "text": "b"}\n')
    spec = InputSpec(template="{text}", id_column="id")
    assert read_prepared(source, spec).keys.to_pylist() == ["1.5", "2"]
    assert read_prepared(source, spec, _BEFORE).keys.to_pylist() == ["1.5", "2.0"]  # as planned


def test_ids_1_and_1_0_are_the_same_id(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "1", "text": "a"}\n{"id": 1.0, "text": "b"}\n')
    with pytest.raises(UsageError, match=r"id column 'id' has 1 duplicated value\(s\): '1' ×2"):
        read_prepared(source, InputSpec(template="{text}", id_column="id"))


def test_reads_alike_says_where_reading_3_may_show_or_key_otherwise(tmp_path: Path) -> None:
    """So a batch reading 3 planned is looked for, and resumed as it was planned."""
    maps = _typed(tmp_path / "maps.parquet")
    assert not reads_alike(maps, read_input(maps), 4, _BEFORE)
    blobs = pd.DataFrame({"b": [b"x", None]})
    assert not reads_alike(blobs, blobs, 4, _BEFORE)  # a DataFrame is shown by the reading too
    ids = pd.DataFrame({"id": [1.5, 2.0]})
    assert not reads_alike(ids, ids, 4, _BEFORE, "id")
    assert reads_alike(ids, ids, 4, _BEFORE)  # not an id column: shown as before
    plain = pd.DataFrame({"id": [1.5, 2.5], "nested": [[1], {"a": "b"}]})
    assert reads_alike(plain, plain, 4, _BEFORE, "id")
