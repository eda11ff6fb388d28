"""Write an output as text, CSV, TSV or JSONL, which have no nesting and no bytes.

Lists and structs become their JSON text in CSV (as prompts show them) and JSON arrays and objects in
JSONL; bytes become base64 text in both; Parquet, which keeps types, is `parquet_writing`.
"""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from rowrelay.tasks.dataset.parquet_writing import nested_columns
from rowrelay.tasks.dataset.templates import BYTES, cell_text

__all__ = ["write_csv", "write_jsonl"]

_NESTED = (dict, list, tuple, np.ndarray)
_REPRS = (*_NESTED, *BYTES)
"""What pandas writes to CSV as Python's repr."""


def _base64(value: bytes | bytearray | memoryview) -> str:
    """Bytes as text any tool decodes: base64, standard alphabet, padded (Python's repr, `b'\\x89PNG…'`,
    was written before)."""
    return base64.b64encode(value).decode("ascii")


def _bytes_as_base64(value: object) -> object:
    """Nested data (an image struct `{bytes, path}`, a list) with its bytes as `_base64` text."""
    if isinstance(value, BYTES):
        return _base64(value)
    if isinstance(value, dict):
        return {key: _bytes_as_base64(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_bytes_as_base64(item) for item in value]
    return value


def _csv_cell(value: object) -> object:
    """A cell CSV would write as Python's repr: lists and structs as their JSON text, bytes as base64."""
    if isinstance(value, BYTES):
        return _base64(value)
    if isinstance(value, _NESTED):
        return cell_text(_bytes_as_base64(value))
    return value


def write_csv(frame: pd.DataFrame, path: Path, separator: str = ",") -> None:
    """Lists and structs as their JSON text, as prompts show them: CSV has no nesting. Those are
    structured outputs' typed columns (Arrow-backed), and an input's own nested values (a Parquet list,
    a JSONL object: Python or NumPy objects), which pandas wrote as their repr (`['a' 'b']`), as it did
    bytes (`_csv_cell`)."""
    as_text = {
        column: pd.Series(
            [None if v is None else _csv_cell(v) for v in pa.array(frame[column]).to_pylist()],
            index=frame.index,
            dtype=object,
        )
        for column in nested_columns(frame) + _binary_columns(frame)
    }
    for column, dtype in frame.dtypes.items():
        if pd.api.types.is_object_dtype(dtype):
            values = frame[column]
            reprs = values.map(lambda value: isinstance(value, _REPRS))
            if reprs.any():
                as_text[str(column)] = values.where(~reprs, values[reprs].map(_csv_cell))
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
    """What orjson cannot encode itself: missing markers → null, dates → ISO 8601, NumPy arrays of
    objects (pandas' Parquet lists) → JSON arrays, bytes → base64, anything else → text."""
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, BYTES):  # at any depth: orjson calls this for each value it cannot encode
        return _base64(value)
    if isinstance(value, np.ndarray):  # orjson takes numeric arrays only; it calls this again inside
        return value.tolist()
    if isinstance(value, date):  # includes pandas Timestamps, which orjson does not take natively
        return value.isoformat()
    return str(value)


def write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    """One JSON object per line, missing values as null; orjson row by row (pandas' to_json is ~5x slower)."""
    names = [str(column) for column in frame.columns]
    nested = set(nested_columns(frame))  # lists and structs as JSON arrays and objects, from Arrow
    columns = [
        pa.array(frame[column]).to_pylist()
        if column in nested
        else _infinities_as_text(
            frame[column], frame[column].astype(object).where(frame[column].notna(), None)
        )
        for column in frame
    ]
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
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
