"""The readings of a batch's input, each release's way of turning a file into rows, keys and prompts.

A row's prompt, and so its key (without an id column) and input hash, depend on how its input was read
and shown; its key with an id column, on how the id was read. A batch planned by an earlier release is
resumed with the reading it was planned with (`EARLIER_READINGS` says what each did), so no row of it is
planned again and paid twice; `reads_alike` tells, cheaply, whether an earlier reading may differ at all.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rowrelay.tasks.dataset.templates import BYTES, arrow_nested

__all__ = [
    "ARROW_NESTED_AS_JSON",
    "BOOLS_AS_JSON",
    "COLUMNS_KEPT",
    "EARLIER_READINGS",
    "FIRST_READING",
    "INDEX_AS_COLUMNS",
    "NESTED_KEPT",
    "READING",
    "SHOWN_AS_DATA",
    "holds_maps",
    "nested_integers",
    "reads_alike",
    "saved_frame_reading",
]

READING = 7
"""How this release reads inputs: integers with missing values stay integers, in a column of their own
(pandas' nullable `Int64`, or Python ints where they exceed it) and inside a Parquet list, struct or map
(read as Python lists, dicts and ints, as JSON's nested values are); a Parquet map is a JSON object; bytes
in a prompt are their UTF-8 text (base64 where a column's bytes are not all text); a whole-number id
written as a decimal (`2.0`) is the key `2`; an Arrow-backed nested column of a DataFrame (a list,
struct or map, `pd.read_parquet(..., dtype_backend="pyarrow")`) is the JSON text its file gives; a Parquet
file's named index levels are columns, as a DataFrame's are; a boolean in a prompt (and an id) is
`true` or `false`. Recorded with each batch (`run.json`)."""
FIRST_READING = 1
"""How the releases before reading 2 read files: as pandas does. The reading of every batch whose record
names none."""
COLUMNS_KEPT = 2
"""The reading from which an integer column with missing values stays integers."""
NESTED_KEPT = 3
"""The reading from which integers inside a Parquet file's nested values stay integers."""
SHOWN_AS_DATA = 4
"""The reading from which a Parquet map is read as a JSON object (it was a list of pairs, `[["a", 1]]`),
bytes in a prompt are shown as text (they were Python's `b'...'`), and a whole-number id written as a
decimal is keyed as an integer (`2.0` was the key "2.0", apart from "2")."""
ARROW_NESTED_AS_JSON = 5
"""The reading from which an Arrow-backed nested column is shown as JSON (`[1, 2]`); it was NumPy's and
Python's reprs (`[1 2]`, `{'x': 1}`, `[('k', 1)]`)."""
INDEX_AS_COLUMNS = 6
"""The reading from which the named index levels pandas wrote into a Parquet file
(`df.set_index("ticket_id").to_parquet(path)`) are columns of the input; they were left out, of the output
too, and a template or id column naming one was refused. Keys and prompts are as before: no batch an
earlier reading planned could name them."""
BOOLS_AS_JSON = 7
"""The reading from which a boolean (a JSON `true`, a Parquet or DataFrame bool column) is shown in a
prompt, and keys an id, as `true` or `false`, as JSON writes it and as a nested one already was; it was
Python's `True` and `False`."""
EARLIER_READINGS: dict[int, str] = {
    FIRST_READING: "integer columns with missing values as decimals (3.0)",
    COLUMNS_KEPT: "integers inside nested values (lists, structs) with missing values as decimals (3.0)",
    NESTED_KEPT: "Parquet maps as lists of pairs, bytes in prompts as Python's b'...', and ids written as "
    "decimals (2.0) as keys of their own",
    SHOWN_AS_DATA: "Arrow-backed nested columns of a DataFrame as NumPy's and Python's reprs ([1 2])",
    ARROW_NESTED_AS_JSON: "a Parquet file's named index levels as no columns (left out of the output)",
    INDEX_AS_COLUMNS: "booleans in prompts as Python's True and False",
}
"""What each reading before `READING` did that this release does not, in the words a resumed batch's
warning uses."""


def reads_alike(
    source: str | Path | pd.DataFrame,
    frame: pd.DataFrame,
    reading: int,
    earlier: int,
    id_column: str | None = None,
) -> bool:
    """Whether the `earlier` reading is sure to read `source` as `reading` read it, into `frame` (rows
    keyed by `id_column`, if given), told without reading the file again (its Parquet schema at most).
    False when they may differ: `frame` has an integer column with missing values that `earlier` made
    floats, a column that may hold bytes, or an id column holding whole numbers written as decimals, or
    `source` is a Parquet file with integers or maps inside its values that `earlier` read otherwise.
    A Parquet file's index levels, which readings before `INDEX_AS_COLUMNS` left out, never make them
    differ: a batch such a reading planned named none of them, so its keys and prompts are the same."""
    if earlier < SHOWN_AS_DATA <= reading and (_may_hold_bytes(frame) or _whole_decimals(frame, id_column)):
        return False
    if earlier < ARROW_NESTED_AS_JSON <= reading and any(map(arrow_nested, frame.dtypes)):
        return False
    if earlier < BOOLS_AS_JSON <= reading and _may_hold_bools(frame):
        return False
    if isinstance(source, pd.DataFrame):
        return True  # taken as it is: only how it is shown and keyed may differ
    if earlier < COLUMNS_KEPT <= reading and _has_nullable_integers(frame):
        return False
    path = Path(source)
    if path.suffix.lower() not in (".parquet", ".pq"):
        return True
    schema = pq.read_schema(path)
    if earlier < NESTED_KEPT <= reading and nested_integers(schema, frame):
        return False
    return not (earlier < SHOWN_AS_DATA <= reading and holds_maps(schema, frame))


def saved_frame_reading(reading: int) -> int:
    """The reading of the Parquet file a DataFrame's batch was saved to (`frame.to_parquet(PATH)`, as
    `rowrelay export STATE --input PATH` asks of a batch planned from a frame), for a batch planned with
    `reading`: from `SHOWN_AS_DATA` on, at least `INDEX_AS_COLUMNS`, which reads a file as readings 4 and
    5 do but for taking its named index levels as columns, as the frame's were (`given_frame`, since
    reading 4): read with the batch's own, a template or id column naming one was refused. The frames of
    earlier readings' batches had no index columns to name: those keep their reading."""
    return max(reading, INDEX_AS_COLUMNS) if reading >= SHOWN_AS_DATA else reading


def nested_integers(schema: pa.Schema, frame: Container[Any]) -> list[str]:
    """The columns of `frame` (a DataFrame, or names) whose Parquet type nests an integer (a list, struct
    or map, at any depth)."""
    return [
        field.name
        for field in schema
        if pa.types.is_nested(field.type) and _holds(field.type, pa.types.is_integer) and field.name in frame
    ]


def holds_maps(schema: pa.Schema, frame: Container[Any]) -> list[str]:
    """The columns of `frame` (a DataFrame, or names) whose Parquet type is or nests a map."""
    return [field.name for field in schema if _holds(field.type, pa.types.is_map) and field.name in frame]


def _holds(kind: pa.DataType, test: Callable[[pa.DataType], bool]) -> bool:
    return bool(test(kind)) or any(_holds(kind.field(i).type, test) for i in range(kind.num_fields))


def _has_nullable_integers(frame: pd.DataFrame) -> bool:
    return any(
        isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(dtype)
        for dtype in frame.dtypes
    )


def _may_hold_bytes(frame: pd.DataFrame) -> bool:
    """Whether a column of `frame` holds bytes: an Arrow-backed binary one, or one of Python objects
    pandas tells holds bytes, or values of several kinds among which a look finds some."""
    for _, series in frame.items():
        dtype = series.dtype
        if isinstance(dtype, pd.ArrowDtype):
            if pa.types.is_binary(dtype.pyarrow_dtype) or pa.types.is_large_binary(dtype.pyarrow_dtype):
                return True
        elif pd.api.types.is_object_dtype(dtype):
            kind = pd.api.types.infer_dtype(series, skipna=True)
            if kind == "bytes" or (kind.startswith("mixed") and any(isinstance(v, BYTES) for v in series)):
                return True
    return False


def _may_hold_bools(frame: pd.DataFrame) -> bool:
    """Whether a column of `frame` holds booleans: a boolean one (NumPy's, pandas', Arrow's), or one of
    Python objects holding some (a JSON column with nulls or of several kinds)."""
    for _, series in frame.items():
        if pd.api.types.is_bool_dtype(series.dtype):
            return True
        if pd.api.types.is_object_dtype(series.dtype) and any(isinstance(v, bool | np.bool_) for v in series):
            return True
    return False


def _whole_decimals(frame: pd.DataFrame, id_column: str | None) -> bool:
    """Whether `id_column` holds a float with no fraction (`2.0`), which `SHOWN_AS_DATA` keys as `2`."""
    if id_column is None or id_column not in frame.columns:
        return False
    ids = frame[id_column]
    if pd.api.types.is_float_dtype(ids.dtype):
        values = ids.to_numpy(dtype=np.float64, na_value=np.nan)
        return bool(np.any(np.isfinite(values) & (values == np.floor(values))))
    if ids.dtype == object:
        return any(isinstance(value, float) and value.is_integer() for value in ids)
    return False
