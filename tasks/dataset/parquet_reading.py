"""Read a Parquet input as `reading` says (`readings`): the types it carries kept, integers with missing
values included (pandas alone reads them as float64: ``3.0`` in prompts, ``12345678901234567`` rounded), a
map as a dict, text that is not UTF-8 refused naming its column and row, and, from `INDEX_AS_COLUMNS`, the
index levels pandas wrote into the file (``df.set_index("ticket_id").to_parquet(path)``; a MultiIndex's
unnamed ones as ``level_N``) as columns, as a DataFrame's are.

    frame = read_parquet(Path("tickets.parquet"), READING)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rowrelay.tasks.dataset.duplicate_names import refuse_duplicate_names
from rowrelay.tasks.dataset.given_frame import index_as_columns, index_levels
from rowrelay.tasks.dataset.kept_types import kept_types
from rowrelay.tasks.dataset.readings import (
    COLUMNS_KEPT,
    INDEX_AS_COLUMNS,
    NESTED_KEPT,
    SHOWN_AS_DATA,
    holds_maps,
    nested_integers,
)
from rowrelay.tasks.dataset.valid_text import arrow_columns, invalid_text
from rowrelay.tasks.errors import UsageError

__all__ = ["read_parquet"]

_NULLABLE_INTEGERS: dict[pa.DataType, pd.api.extensions.ExtensionDtype] = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}


def read_parquet(path: Path, reading: int) -> pd.DataFrame:
    """The Parquet file at `path` as `reading` reads it (the module docstring says how)."""
    schema = pq.read_schema(path)
    refuse_duplicate_names(schema.names, str(path))  # before pandas, which can read no such file
    maps = reading >= SHOWN_AS_DATA and bool(holds_maps(schema, schema.names))
    try:
        frame, maps = _parquet_frame(path, maps)
    except (pa.ArrowException, UnicodeDecodeError):
        # A list, struct or dictionary column holding such text fails here, in pyarrow's words ("Wrapping
        # caf\ufffd failed"): the file's columns say where. A plain text column passes, and is checked below.
        _refuse_invalid_text(path, pq.read_table(path))
        raise
    read_as: dict[str, str] = {}  # the file's fields read under other names: unnamed index levels
    if reading >= INDEX_AS_COLUMNS:
        # pandas gives back the index it wrote (a frame's `set_index("ticket_id")`) as the index, which
        # the output drops: the ticket ids were lost, and a template or --id-column naming them refused.
        # First, so that the index's values are read as exactly as any column's, below.
        read_as = _level_fields(schema, frame)
        schema = pa.schema([field.with_name(read_as.get(field.name, field.name)) for field in schema])
        frame = index_as_columns(frame, str(path))
    _refuse_invalid_text(path, arrow_columns(frame))
    frame.attrs.update(kept_types(schema, nested=reading >= NESTED_KEPT))
    if reading < COLUMNS_KEPT:
        return frame
    # pandas gives an integer column with a null float64 (one without keeps int64, and one written from a
    # nullable pandas dtype comes back as that dtype): those columns are read again, as nullable.
    widened = [
        field.name
        for field in schema
        if pa.types.is_integer(field.type)
        and field.name in frame.columns
        and frame[field.name].dtype == np.float64
    ]
    # It gives the integers inside a list, struct or map NumPy's types, float64 where the column holds a
    # null among them ({"k": 1.2345678901234568e+16}): those columns are read again, as Python values.
    nested = nested_integers(schema, frame) if reading >= NESTED_KEPT else []
    if widened or nested:
        in_file = {column: field for field, column in read_as.items()}
        table = pq.read_table(path, columns=[in_file.get(name, name) for name in widened + nested])
        table = table.rename_columns([read_as.get(name, name) for name in table.column_names])
        # Without pandas' metadata: with it, an index level read again went back into the index.
        exact = table.select(widened).to_pandas(types_mapper=_NULLABLE_INTEGERS.get, ignore_metadata=True)
        for name in widened:
            frame[name] = exact[name].array  # positional: the frame may carry an index of its own
        for name in nested:
            values = table.column(name).to_pylist(maps_as_pydicts="strict" if maps else None)
            frame[name] = pd.Series(values, index=frame.index, dtype=object)
    return frame


def _level_fields(schema: pa.Schema, frame: pd.DataFrame) -> dict[str, str]:
    """The file's fields holding `frame`'s unnamed index levels (`__index_level_1__`), by the column
    `index_as_columns` reads each as (`level_1`)."""
    stored = (schema.pandas_metadata or {}).get("index_columns", [])
    return {
        field: str(column)
        for field, given, column in zip(stored, frame.index.names, index_levels(frame), strict=False)
        if isinstance(field, str) and given is None and column is not None
    }


def _parquet_frame(path: Path, maps: bool) -> tuple[pd.DataFrame, bool]:
    """The file as pandas reads it; with `maps`, its maps as dicts (JSON objects in prompts and outputs),
    unless one repeats a key, which a dict cannot hold: then as pandas' lists of pairs, as before. Says
    whether its maps are dicts."""
    if maps:
        try:
            return pd.read_parquet(path, "pyarrow", to_pandas_kwargs={"maps_as_pydicts": "strict"}), True
        except (KeyError, pa.ArrowException) as exc:
            if "duplicate key" not in str(exc):
                raise
    return pd.read_parquet(path), False


def _refuse_invalid_text(path: Path, columns: pa.Table | dict[str, pa.ChunkedArray[Any]]) -> None:
    by_name = (
        dict(zip(columns.column_names, columns.columns, strict=True))
        if isinstance(columns, pa.Table)
        else columns
    )
    problem = invalid_text(by_name)
    if problem is not None:
        raise UsageError(
            f"cannot read {path} as parquet: {problem}; write it as UTF-8, or as binary if it holds bytes"
        )
