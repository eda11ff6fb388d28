"""Write an output as text, CSV, TSV or JSONL, which have no nesting and no bytes.

Lists and structs become their JSON text in CSV (as prompts show them) and JSON arrays and objects in
JSONL; bytes become base64 text in both; Parquet, which keeps types, is `parquet_writing`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from rowrelay.tasks.dataset.kept_types import kept_arrays
from rowrelay.tasks.dataset.parquet_writing import nested_columns
from rowrelay.tasks.dataset.templates import BYTES, cell_text
from rowrelay.tasks.dataset.text_values import as_base64, plain

__all__ = ["write_csv", "write_jsonl"]

_NESTED = (dict, list, tuple, np.ndarray)
_BOOL_TEXT = {True: "true", False: "false"}
"""A boolean in CSV, as JSONL, prompts and a nested one in CSV write it, and as DuckDB and Spark write
CSV: pandas' `True` beside `[true]` in the next column read as two conventions. pandas and DuckDB read
`true` back as booleans, as they read `True`."""


def _csv_cell(value: object) -> object:
    """A cell CSV would write as Python's repr: lists and structs as their JSON text (`plain` first: a
    null as null, an infinity as "inf", where `json` wrote `Infinity`), bytes as base64, a boolean as
    `true` or `false` (`_BOOL_TEXT`)."""
    if isinstance(value, BYTES):
        return as_base64(value)
    if isinstance(value, bool | np.bool_):
        return _BOOL_TEXT[bool(value)]
    if isinstance(value, _NESTED):
        return cell_text(plain(value))
    return value


def _values_to_make_plain(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """The values of `frame`'s columns that may hold nested data or bytes, by column, missing ones None:
    a Parquet input's column whose type pandas' values do not tell from the Arrow type its file gave
    (`kept_types`: a list of zoned timestamps is NumPy's UTC ones, without the zone, in pandas), an
    Arrow-backed list, struct or bytes column (structured outputs' typed columns, a frame read with
    `dtype_backend="pyarrow"`), and any column of Python objects. A column holding a map stays pandas'
    values: those are the dicts (or, for a map repeating a key, the pairs) the batch read.

    Only a column whose type holds times, bytes or decimals goes through Python's values (`to_pylist`,
    which gives a zoned time its zone); any other keeps NumPy's arrays, which orjson writes natively:
    5,000 rows of 768 float32 took 4 s through Python's floats, and twice the bytes."""
    kept = {name: array for name, array in kept_arrays(frame).items() if not _holds_map(array.type)}
    arrow = set(nested_columns(frame) + _binary_columns(frame))
    values: dict[str, list[Any]] = {}
    for column, dtype in frame.dtypes.items():
        name = str(column)
        typed = kept.get(name, pa.array(frame[column]) if name in arrow else None)
        if typed is not None and _needs_python_values(typed.type):
            values[name] = typed.to_pylist()
        elif typed is not None and name in arrow:
            values[name] = typed.to_numpy(zero_copy_only=False).tolist()
        elif pd.api.types.is_object_dtype(dtype):
            series = frame[column]
            values[name] = series.astype(object).where(series.notna(), None).tolist()
    return values


def _needs_python_values(kind: pa.DataType) -> bool:
    """Whether a column of Arrow type `kind` is written from Python's values: NumPy's lose a time's zone
    and give a nested date or time as `datetime64`; bytes and decimals are Python objects either way."""
    if pa.types.is_temporal(kind) or pa.types.is_decimal(kind):
        return True
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return True
    return any(_needs_python_values(kind.field(i).type) for i in range(kind.num_fields))


def _holds_map(kind: pa.DataType) -> bool:
    return pa.types.is_map(kind) or any(_holds_map(kind.field(i).type) for i in range(kind.num_fields))


def write_csv(frame: pd.DataFrame, path: Path, separator: str = ",") -> None:
    """Lists and structs as their JSON text, as prompts show them: CSV has no nesting. Those are
    structured outputs' typed columns (Arrow-backed), and an input's own nested values (a Parquet list,
    a JSONL object: Python or NumPy objects), which pandas wrote as their repr (`['a' 'b']`), as it did
    bytes (`_csv_cell`)."""
    as_text = {
        name: pd.Series([_csv_cell(value) for value in values], index=frame.index, dtype=object)
        for name, values in _values_to_make_plain(frame).items()
    }
    for column, dtype in frame.dtypes.items():  # NumPy's, pandas' nullable and Arrow's booleans
        if pd.api.types.is_bool_dtype(dtype):
            series = frame[column]
            as_text[str(column)] = series.astype(object).map(_BOOL_TEXT).where(series.notna(), None)
    frame.assign(**as_text).to_csv(path, index=False, sep=separator)


def _binary_columns(frame: pd.DataFrame) -> list[str]:
    """Arrow-backed bytes columns (a DataFrame read with pandas' `dtype_backend="pyarrow"`)."""
    return [
        str(column)
        for column, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.ArrowDtype)
        and (pa.types.is_binary(dtype.pyarrow_dtype) or pa.types.is_large_binary(dtype.pyarrow_dtype))
    ]


def _json_default(value: object) -> object:
    """What orjson cannot encode itself: missing markers → null, dates → ISO 8601, bytes → base64,
    anything else (a decimal, a complex number) → text."""
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, BYTES):  # at any depth: orjson calls this for each value it cannot encode
        return as_base64(value)
    if isinstance(value, date):  # includes pandas Timestamps, which orjson does not take natively
        return value.isoformat()
    return str(value)


def _exact_int(number: int) -> orjson.Fragment:
    """An integer past 64 bits, which orjson refuses, as its digits: JSON numbers have no size limit."""
    return orjson.Fragment(str(number).encode("ascii"))


def write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    """One JSON object per line, missing values as null; orjson row by row (pandas' to_json is ~5x slower)."""
    names = [str(column) for column in frame.columns]
    made_plain = {
        name: [plain(value, _exact_int) for value in values]
        for name, values in _values_to_make_plain(frame).items()
    }
    columns = [
        made_plain[name]
        if name in made_plain
        else _infinities_as_text(
            frame[column], frame[column].astype(object).where(frame[column].notna(), None)
        )
        for name, column in zip(names, frame, strict=True)
    ]
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS  # {1: "a"}
    with path.open("wb") as file:
        for start in range(0, len(frame), 10_000):
            chunk = zip(*(values[start : start + 10_000] for values in columns), strict=True)
            file.write(
                b"".join(
                    orjson.dumps(dict(zip(names, row, strict=True)), default=_json_default, option=options)
                    for row in chunk
                )
            )


def _infinities_as_text(column: pd.Series, values: pd.Series) -> list[Any]:
    """`values` (the column's, missing ones None) with an infinite float as "inf" or "-inf", as CSV and
    prompts show it: JSON has no infinity, and orjson wrote null, the mark of a missing value."""
    if not pd.api.types.is_float_dtype(column.dtype):
        return values.tolist()
    numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.flatnonzero(np.isinf(numbers))
    listed = values.tolist()
    for i in infinite:
        listed[i] = "inf" if numbers[i] > 0 else "-inf"
    return listed
