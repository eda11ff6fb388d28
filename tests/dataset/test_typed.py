"""Typed columns from a JSON Schema: each top-level field's Arrow type, and values that fit it."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from rowrelay.tasks.dataset.typed import arrow_type, field_clashes, holds_json, json_parsed, typed_columns

JSON = pa.large_string()


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, pa.string()),
        ({"type": ["integer", "null"]}, pa.int64()),
        ({"anyOf": [{"type": "number"}, {"type": "null"}]}, pa.float64()),
        ({"anyOf": [{"type": "integer"}, {"type": "number"}]}, pa.float64()),
        ({"enum": [1, 2, 3]}, pa.int64()),
        ({"const": True}, pa.bool_()),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, JSON),
        ({"type": "object", "additionalProperties": True}, JSON),
        ({"type": "array", "items": {"$ref": "#/$defs/Item"}}, pa.list_(pa.struct([("n", pa.int64())]))),
        ({"$ref": "#"}, pa.struct([("child", JSON)])),  # recursive: cut off as JSON text
    ],
)
def test_a_fields_arrow_type(schema: dict[str, Any], expected: pa.DataType) -> None:
    root = {
        "type": "object",
        "properties": {"child": {"$ref": "#"}},
        "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    assert arrow_type(schema, root) == expected


def test_values_fit_their_column_and_rows_that_did_not_complete_are_null() -> None:
    schema = {
        "type": "object",
        "properties": {
            "score": {"type": "number"},
            "mixed": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    texts = [
        '{"score": 3, "mixed": 7, "tags": ["a"]}',
        '{"score": 1.5, "mixed": "x", "tags": []}',
        "oops",
        None,
    ]
    columns = typed_columns(schema, texts, [True, True, True, False])
    assert columns["score"].to_pylist() == [3.0, 1.5, None, None]
    assert columns["mixed"].to_pylist() == ["7", '"x"', None, None]
    assert columns["tags"].to_pylist() == [["a"], [], None, None]


def test_fields_named_like_columns_are_found() -> None:
    schema: dict[str, Any] = {"properties": {"error": {}, "category": {}, "subject": {}}}
    assert field_clashes(schema, ["subject", "error", "output_text"]) == ["error", "subject"]


def test_json_text_is_parsed_back_at_any_depth() -> None:
    """Formats that write values (JSONL, CSV) take back what a typed column keeps as JSON text."""
    schema = {
        "type": "object",
        "properties": {
            "mixed": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"v": {"anyOf": [{"type": "string"}, {"type": "number"}]}},
                },
            },
            "plain": {"type": "string"},
        },
    }
    texts = ['{"mixed": "x", "rows": [{"v": 1.5}, {"v": "y"}, {}], "plain": "7"}', None]
    columns = typed_columns(schema, texts, [True, False])
    assert [holds_json(column.type) for column in columns.values()] == [True, True, False]
    assert json_parsed(columns["mixed"]) == ["x", None]
    assert json_parsed(columns["rows"]) == [[{"v": 1.5}, {"v": "y"}, {"v": None}], None]
    assert json_parsed(columns["plain"]) == ["7", None]
