"""Reading 7: a boolean reaches the prompt as `true` or `false`, as JSON wrote it (and as a nested one
already did), and CSV outputs write it so, as JSONL does. A trial's JSON `"urgent": true` reached the
prompt as Python's `True`, and its CSV output said `True` beside `[true]` in a list column. A batch an
earlier reading planned keeps its prompts and keys (`readings`), so none of its rows is sent again.
JSONL and Parquet outputs keep their native booleans."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rowrelay.tasks.dataset import (
    RESULT_COLUMNS,
    InputSpec,
    read_input,
    read_prepared,
    reads_alike,
    write_output,
)
from rowrelay.tasks.dataset.templates import render_template

_BEFORE = 6
"""The reading before booleans were shown as JSON writes them."""
LINES = [
    {"id": "a", "urgent": True, "maybe": True, "tags": [True]},
    {"id": "b", "urgent": False, "maybe": None, "tags": [False]},
]


def _jsonl(path: Path) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in LINES))
    return path


def _prompts(source: Path, template: str, reading: int = 7, **spec: str) -> list[str]:
    prepared = read_prepared(source, InputSpec(template=template, **spec), reading)
    return [prepared.prompts.at(i) for i in range(len(prepared.frame))]


def _results(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"row_index": range(rows), **{name: [None] * rows for name in RESULT_COLUMNS}})


def test_a_json_boolean_is_true_or_false_in_the_prompt(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "in.jsonl")
    template = "urgent={urgent} maybe={maybe} tags={tags}"
    assert _prompts(source, template) == [
        "urgent=true maybe=true tags=[true]",
        "urgent=false maybe= tags=[false]",
    ]
    assert _prompts(source, template, _BEFORE)[0] == "urgent=True maybe=True tags=[true]"  # as planned
    frame = read_input(source)
    assert not reads_alike(source, frame, 7, _BEFORE)  # so a batch of reading 6 is resumed with it
    assert reads_alike(source, frame.drop(columns=["urgent", "maybe"]), 7, _BEFORE)
    assert render_template(template, LINES[0]) == "urgent=true maybe=true tags=[true]"


def test_a_parquet_boolean_is_true_or_false_in_the_prompt_and_as_an_id(tmp_path: Path) -> None:
    booleans = pa.array([True, None], pa.bool_())
    pq.write_table(pa.table({"flag": booleans, "text": ["x", "y"]}), source := tmp_path / "in.parquet")
    assert _prompts(source, "{flag}:{text}") == ["true:x", ":y"]
    pq.write_table(pa.table({"flag": [True, False]}), keyed := tmp_path / "keyed.parquet")
    spec = InputSpec(template="{flag}", id_column="flag")
    assert read_prepared(keyed, spec).keys.to_pylist() == ["true", "false"]
    assert read_prepared(keyed, spec, _BEFORE).keys.to_pylist() == ["True", "False"]  # as planned


def test_csv_writes_true_and_false_which_pandas_and_duckdb_read_back_as_booleans(tmp_path: Path) -> None:
    frame = read_input(_jsonl(tmp_path / "in.jsonl"))
    pq.write_table(pa.table({"flag": pa.array([True, None], pa.bool_())}), tmp_path / "in.parquet")
    written = write_output(frame, _results(2), tmp_path / "out.csv")
    lines = written.read_text().splitlines()
    assert lines[0].startswith("id,urgent,maybe,tags,")
    assert lines[1].startswith("a,true,true,[true],")
    assert lines[2].startswith("b,false,,[false],")
    back = pd.read_csv(written)
    assert back["urgent"].tolist() == [True, False]
    assert pd.api.types.is_bool_dtype(back["urgent"].dtype)
    relation = duckdb.sql(f"DESCRIBE SELECT urgent, maybe FROM read_csv('{written}')")
    assert relation is not None
    described = relation.fetchall()
    kinds = {row[0]: row[1] for row in described}
    assert kinds == {"urgent": "BOOLEAN", "maybe": "BOOLEAN"}
    parquet = write_output(read_input(tmp_path / "in.parquet"), _results(2), tmp_path / "flag.csv")
    assert [line.split(",")[0] for line in parquet.read_text().splitlines()] == ["flag", "true", ""]


def test_jsonl_and_parquet_outputs_keep_native_booleans(tmp_path: Path) -> None:
    frame = read_input(_jsonl(tmp_path / "in.jsonl"))
    jsonl = write_output(frame, _results(2), tmp_path / "out.jsonl")
    first = orjson.loads(jsonl.read_text().splitlines()[0])
    assert (first["urgent"], first["maybe"], first["tags"]) == (True, True, [True])
    parquet = write_output(frame, _results(2), tmp_path / "out.parquet")
    assert pq.read_table(parquet).column("urgent").to_pylist() == [True, False]
