"""Input columns and schema fields named like a result column but for case clash as the same names do:
DuckDB, which does not tell names apart by case, read an input's `Error` for `SELECT error` and renamed
the result's own `error_1`."""

from __future__ import annotations

from typing import Any

from rowrelay.tasks.dataset import result_clash
from rowrelay.tasks.dataset.typed import field_clashes


def test_a_result_column_named_otherwise_but_for_case_clashes() -> None:
    assert result_clash(["id", "a", "Error", "ROWRELAY_STATUS"]) == (
        "input column(s) Error, ROWRELAY_STATUS clash with result columns (Error as error, "
        "ROWRELAY_STATUS as rowrelay_status: readers such as DuckDB do not tell names apart by case): "
        "rename them in the input"
    )


def test_the_same_names_are_said_as_before() -> None:
    assert result_clash(["id", "error", "cost_usd"]) == (
        "input column(s) error, cost_usd clash with result columns: rename them in the input"
    )
    assert result_clash(["id", "errors", "Text"]) is None


def test_a_schema_field_named_like_a_column_but_for_case_clashes() -> None:
    schema: dict[str, Any] = {"properties": {"Text": {}, "ROW_INDEX": {}, "label": {}}}
    assert field_clashes(schema, ["id", "text", "row_index", "error"]) == ["Text", "ROW_INDEX"]
