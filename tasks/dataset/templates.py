"""Prompt templates: `str.format`-style text over column names, checked before anything is sent.

A template such as ``"Subject: {subject}\\n\\n{body}"`` names columns of the input; what a template may
say is checked by `template_syntax`.
A missing value (None, NaN, NA) renders as the empty string, nested data (a JSON object or array, a
Parquet struct or list) as JSON text.

    >>> render_template("Subject: {subject}", {"subject": "Refund"})
    'Subject: Refund'
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rowrelay.tasks.dataset.template_syntax import parse, template_fields
from rowrelay.tasks.errors import UsageError


def _is_missing(value: object) -> bool:
    return (
        value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    )


def cell_text(value: object, bools_as_json: bool = True) -> str:
    """A cell as prompt text: missing values become "", strings stay as they are, nested data (a JSON
    object or array, a Parquet struct or list) becomes JSON text, a boolean `true` or `false` (as JSON
    wrote it, and as nested ones are; Python's `True` before `BOOLS_AS_JSON`, `bools_as_json` False),
    others go through str."""
    if isinstance(value, str):
        return value
    if _is_missing(value):
        return ""
    if bools_as_json and isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple | np.ndarray):
        # str() gave Python's or NumPy's repr ({'name': 'Ann'}, ['a' 'b']): JSON is what the data was
        # and what a model reads as data.
        return json.dumps(_jsonable(value), ensure_ascii=False, default=str)
    return str(value)


def _jsonable(value: object) -> object:
    """Nested data as what `json` writes: NumPy arrays and scalars (Parquet lists) as Python's, a missing
    number (NaN, which `json` would write as the non-JSON `NaN`) as null."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def render_template(template: str, row: Mapping[Any, object]) -> str:
    """Render one row (column name → value, e.g. from ``frame.to_dict("records")``).

    Gives the same text `prepare` produces for that row in bulk.
    """
    template_fields(template)
    out: list[str] = []
    for literal, name in parse(template):
        out.append(literal)
        if name is not None:
            if name not in row:
                available = ", ".join(sorted(map(str, row)))
                raise UsageError(f"template field {{{name}}} is not in the row (available: {available})")
            out.append(cell_text(row[name]))
    return "".join(out)


def column_text(
    series: pd.Series, arrow_nested_as_json: bool = True, bools_as_json: bool = True
) -> pd.Series:
    """A whole column as prompt text, vectorized; agrees with `cell_text` cell by cell (an Arrow-backed
    map's cells as the dicts a Parquet file's maps are read as). `arrow_nested_as_json` False: an
    Arrow-backed nested column as the readings before `ARROW_NESTED_AS_JSON` showed it; `bools_as_json`
    False: booleans as Python's `True`, as the readings before `BOOLS_AS_JSON` did (`readings`)."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("")
    if arrow_nested_as_json and arrow_nested(series.dtype):
        return _arrow_nested_text(series)
    if series.dtype == object:  # mixed or nested values: cell by cell, as astype(str) was anyway
        return series.map(lambda value: cell_text(value, bools_as_json)).astype("str")
    # pandas >= 3 keeps missing values missing through astype(str); fillna then makes them "".
    text = series.astype(str).fillna("")
    if bools_as_json and pd.api.types.is_bool_dtype(series.dtype):  # NumPy's, pandas' and Arrow's
        return text.replace({"True": "true", "False": "false"})
    return text


def arrow_nested(dtype: object) -> bool:
    """Whether `dtype` is an Arrow-backed list, struct or map."""
    return isinstance(dtype, pd.ArrowDtype) and bool(pa.types.is_nested(dtype.pyarrow_dtype))


def _arrow_nested_text(series: pd.Series) -> pd.Series:
    """An Arrow-backed list, struct or map column (`pd.read_parquet(..., dtype_backend="pyarrow")`) as the
    JSON text the same file gives read directly: astype(str) gave NumPy's and Python's reprs (`[1 2]`,
    `{'x': 1}`, `[('k', 1)]`). A map is a JSON object, as a Parquet file's is (`reading`), unless one
    repeats a key, which an object cannot hold: then its pairs, as the file's are then too. Only this
    kind of column renders anew; every other keeps its text, and so its rows' input hashes."""
    values = pa.array(series)
    try:
        cells: list[Any] = values.to_pylist(maps_as_pydicts="strict")
    except KeyError:  # pyarrow's word for a map that repeats a key
        cells = values.to_pylist()
    return pd.Series([cell_text(cell) for cell in cells], index=series.index, dtype="str")


BYTES = (bytes, bytearray, memoryview)
"""The types a column's bytes come as (Parquet binary, Python values): one list for reading, showing and
writing them."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters text does not hold (a tab, a line break and a carriage return it may)."""


def bytes_shown(series: pd.Series) -> pd.Series:
    """A column's bytes as a prompt shows them (from reading 4): their UTF-8 text where every one of the
    column's is text (strings that a Parquet writer stored as binary, as Hive and older Spark do), else
    base64, as the output writes bytes (where one holds control characters too: binary data can
    decode); other values as they are. Python's repr (`b'\\x00\\x01'`) was
    shown before: neither the text nor data a reader could decode. Bytes meant as an image or a file go
    with --image-column or --file-column."""
    kind = series.dtype.pyarrow_dtype if isinstance(series.dtype, pd.ArrowDtype) else None
    if kind is not None and (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        values: list[Any] = pa.array(series).to_pylist()
    elif series.dtype == object and pd.api.types.infer_dtype(series, skipna=True).startswith(
        ("bytes", "mixed")
    ):
        values = series.tolist()
    else:
        return series
    blobs = [bytes(value) for value in values if isinstance(value, BYTES)]
    if not blobs:
        return series
    try:
        decoded = [blob.decode("utf-8") for blob in blobs]
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None and not any(_CONTROL.search(text) for text in decoded):
        texts = iter(decoded)
    else:  # not text, or binary data that happens to decode (b"\x00\x01" does)
        texts = iter([base64.b64encode(blob).decode("ascii") for blob in blobs])
    shown = [next(texts) if isinstance(value, BYTES) else value for value in values]
    return pd.Series(shown, index=series.index, dtype=object)


def render_column(frame: pd.DataFrame, template: str) -> pd.Series:
    """Render every row of `frame` with a few whole-column concatenations (no per-row Python)."""
    missing = [name for name in template_fields(template) if name not in frame.columns]
    if missing:
        available = ", ".join(map(str, frame.columns))
        raise UsageError(
            f"template names column(s) not in the input: {', '.join(missing)} (available: {available})"
        )
    texts = {name: column_text(frame[name]) for name in template_fields(template)}
    result = pd.Series([""] * len(frame), index=frame.index, dtype="str")
    for literal, name in parse(template):
        if literal:
            result = result + literal
        if name is not None:
            result = result + texts[name]
    return result
