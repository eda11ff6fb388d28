"""Structured outputs as typed columns: one per top-level field of the schema, beside `output_text`.

The state table keeps each answer's raw text; an output derives the columns from it when it is written,
typed from the JSON Schema: string, integer (int64), number (float64), boolean, arrays as lists,
objects with properties as structs, a nullable union (`anyOf` with null, `type: [..., "null"]`) as its
one other type, an enum or const by its values. What has no one Arrow type (a union of several kinds, a
free-form object, a recursive definition) is kept as its JSON text. Rows that did not complete (their
text failed the schema, or there is none) get nulls. JSON text is for Parquet, whose column needs one
type across rows; formats that write values rather than types (JSONL, CSV) take them back with
`json_parsed` (a column `holds_json`).

    columns = typed_columns(schema, texts, completed)    # {field: pyarrow.Array}, in schema order
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["field_clashes", "holds_json", "json_parsed", "typed_columns", "with_typed_columns"]

_JSON = pa.large_string()
"""The type of a value kept as its JSON text (a large string, so it reads apart from a plain string)."""
_DEEP = 16
_SCALARS: dict[Any, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}


def field_clashes(schema: Mapping[str, Any], columns: Iterable[str]) -> list[str]:
    """The schema's top-level fields that are named like one of `columns` (the input's, the results'),
    whatever the case: DuckDB does not tell `Text` and `text` apart, and renamed one `text_1`."""
    taken = {name.casefold() for name in columns}
    return [name for name in _properties(schema) if name.casefold() in taken]


def typed_columns(
    schema: Mapping[str, Any], texts: Sequence[str | None], completed: Sequence[bool]
) -> dict[str, pa.Array[Any]]:
    """One Arrow array per top-level field, a value per row (null where the row did not complete)."""
    values = [_parsed(text) if done else None for text, done in zip(texts, completed, strict=True)]
    columns: dict[str, pa.Array[Any]] = {}
    for name, sub in _properties(schema).items():
        kind = arrow_type(sub, schema)
        raw = [value.get(name) if isinstance(value, dict) else None for value in values]
        columns[name] = _array(raw, kind)
    return columns


def _array(raw: list[Any], kind: pa.DataType) -> pa.Array[Any]:
    """The values as an Arrow array of `kind`: straight through Arrow's converter when no part of the
    type is JSON text (answers were validated, so they fit: about a tenth of the cost), else (or if one
    does not fit) value by value."""
    if not holds_json(kind):
        try:
            return pa.array(raw, type=kind)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
    return pa.array([_cell(value, kind) for value in raw], type=kind)


def holds_json(kind: pa.DataType) -> bool:
    """Whether a typed column of `kind` keeps any part of its values (all, or a list's items, a struct's
    field) as JSON text."""
    if kind == _JSON:
        return True
    if pa.types.is_list(kind):
        return holds_json(kind.value_type)
    if pa.types.is_struct(kind):
        return any(holds_json(kind.field(i).type) for i in range(kind.num_fields))
    return False


def json_parsed(column: pa.Array[Any] | pa.ChunkedArray[Any]) -> list[Any]:
    """A typed column's values as Python data, the parts kept as JSON text parsed back: `7` and `"x"`
    rather than the strings `'7'` and `'"x"'` (a union of integer and string)."""
    return [_parsed_back(value, column.type) for value in column.to_pylist()]


def _parsed_back(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if kind == _JSON:
        return orjson.loads(value)
    if pa.types.is_list(kind):
        return [_parsed_back(item, kind.value_type) for item in value]
    if pa.types.is_struct(kind):
        return {field.name: _parsed_back(value.get(field.name), field.type) for field in kind}
    return value


def with_typed_columns(
    results: pd.DataFrame, schema: Mapping[str, Any], last: Sequence[str] = ()
) -> pd.DataFrame:
    """`results` (a `results_frame`) with the schema's typed columns after its own but `last` (the
    columns the run asked for, which end every output), as Arrow-backed pandas columns, so Parquet keeps
    their types and nulls."""
    import pandas as pd

    completed = (results["rowrelay_status"] == "completed").tolist()
    columns = typed_columns(schema, results["output_text"].tolist(), completed)
    typed = {
        name: pd.Series(array, index=results.index, dtype=pd.ArrowDtype(array.type))
        for name, array in columns.items()
    }
    own = [name for name in results.columns if name not in last]
    return results.assign(**typed)[[*own, *typed, *last]]


def _properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    return dict(properties) if isinstance(properties, Mapping) else {}


def _parsed(text: str | None) -> Any:
    try:
        return orjson.loads(text or "")
    except orjson.JSONDecodeError:
        return None


def arrow_type(
    schema: Any, root: Mapping[str, Any], depth: int = 0, refs: frozenset[str] = frozenset()
) -> pa.DataType:
    """The Arrow type a value of `schema` is stored as (`_JSON` text when there is no single one; a
    definition met again inside itself, a recursive one, is kept as JSON text from there on)."""
    if not isinstance(schema, Mapping) or depth > _DEEP:
        return _JSON
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _JSON if ref in refs else arrow_type(_resolve(ref, root), root, depth + 1, refs | {ref})
    examples = [schema["const"]] if "const" in schema else schema.get("enum")
    if isinstance(examples, list) and examples:
        return _common([_type_of_value(v) for v in examples if v is not None])
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        return _common([arrow_type(o, root, depth + 1, refs) for o in options if not _is_null(o)])
    kind = schema.get("type")
    names: list[Any] = [k for k in kind if k != "null"] if isinstance(kind, list) else [kind]
    if len(names) != 1:
        return _common([_of_name(name, schema, root, depth, refs) for name in names])
    return _of_name(names[0], schema, root, depth, refs)


def _of_name(
    name: Any, schema: Mapping[str, Any], root: Mapping[str, Any], depth: int, refs: frozenset[str]
) -> pa.DataType:
    scalar = _SCALARS.get(name)
    if scalar is not None:
        return scalar
    if name == "array":
        return pa.list_(arrow_type(schema.get("items"), root, depth + 1, refs))
    properties = schema.get("properties")
    if (name == "object" or name is None) and isinstance(properties, Mapping) and properties:
        fields = [pa.field(k, arrow_type(v, root, depth + 1, refs)) for k, v in properties.items()]
        return pa.struct(fields)
    return _JSON


def _common(kinds: list[pa.DataType]) -> pa.DataType:
    """One type for several: the same one, float for integers and numbers mixed, else JSON text."""
    unique = list(dict.fromkeys(kinds))
    if len(unique) == 1:
        return unique[0]
    if set(unique) == {pa.int64(), pa.float64()}:
        return pa.float64()
    return _JSON


def _type_of_value(value: Any) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string() if isinstance(value, str) else _JSON


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"


def _resolve(ref: str, root: Mapping[str, Any]) -> Any:
    if ref == "#":
        return root
    target: Any = root if ref.startswith("#/") else None
    for part in ref[2:].split("/") if target is not None else ():
        part = part.replace("~1", "/").replace("~0", "~")
        target = target.get(part) if isinstance(target, Mapping) else None
    return target


def _cell(value: Any, kind: pa.DataType) -> Any:
    """`value` shaped for an Arrow array of `kind` (a value that does not fit is null: the schema
    was checked, so only a type the schema leaves loose meets this)."""
    if value is None:
        return None
    if kind == _JSON:
        return orjson.dumps(value).decode()
    if pa.types.is_list(kind):
        return [_cell(v, kind.value_type) for v in value] if isinstance(value, list) else None
    if pa.types.is_struct(kind):
        if not isinstance(value, dict):
            return None
        return {
            kind.field(i).name: _cell(value.get(kind.field(i).name), kind.field(i).type)
            for i in range(kind.num_fields)
        }
    if kind == pa.float64() and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value if _type_of_value(value) == kind else None
