"""The Arrow types of a Parquet input's columns that pandas' values do not tell, kept for the output.

pandas reads a map as dicts (or lists of pairs), a decimal as Python's `Decimal`, which carries no
precision, and a list of timestamps as NumPy's `datetime64`, which carries no time zone: written back by
inference, a map became text (with a warning that the column "holds values of several types"),
decimal128(10, 4) became decimal128(6, 4), and `list<timestamp[us, tz=Europe/Berlin]>` at 12:00 became
`list<timestamp[us]>` at 10:00, two hours off for a reader (and a fixed-size list or binary, a large
list and a time32 came back as their plain kinds). The reader notes such columns' types on the frame it
returns (`DataFrame.attrs`, which pandas keeps through copies and slices); the Parquet writer builds those
columns with them, and the text writers read their values through them (a zoned time with its offset).
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = ["KEPT_TYPES", "kept_arrays", "kept_types"]

KEPT_TYPES = "rowrelay.arrow_types"
"""The key of `DataFrame.attrs` under which a Parquet input's frame carries the Arrow types of its
columns that pandas' values do not tell, by column name."""


def kept_types(schema: pa.Schema, *, nested: bool = True) -> dict[str, str]:
    """The `attrs` that note the columns whose Arrow type pandas' values do not tell (`_untold`), if any:
    the types travel as a serialized Arrow schema in base64 text: pyarrow writes a frame's `attrs` into a
    Parquet file's metadata as JSON, and warns (an error in the tests) about any it cannot.
    `nested=False` (the readings before `readings.NESTED_KEPT`, which read the integers inside nested
    values as floats) notes maps and decimals alone, as those releases did: a list<int64> noted, its
    float values were written back as integers, 12345678901234567 as ...568, and the batch's output
    changed its type from what it was planned with."""
    keep = _untold if nested else _map_or_decimal
    untold = pa.schema([field for field in schema if keep(field.type)])
    if not len(untold):
        return {}
    return {KEPT_TYPES: base64.b64encode(untold.serialize().to_pybytes()).decode("ascii")}


def _untold(kind: pa.DataType) -> bool:
    """Whether pandas' values of type `kind` lose something of it: every nested type (NumPy arrays and
    Python dicts say nothing of a list's kind, of a zone, of the widths inside), a decimal's precision,
    a fixed-size binary's size, a time32's unit."""
    return (
        pa.types.is_nested(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_time32(kind)
    )


def _map_or_decimal(kind: pa.DataType) -> bool:
    return (
        pa.types.is_map(kind)
        or pa.types.is_decimal(kind)
        or any(_map_or_decimal(kind.field(i).type) for i in range(kind.num_fields))
    )


def kept_arrays(frame: pd.DataFrame) -> dict[str, pa.Array[Any]]:
    """The input's columns whose Arrow type its Parquet file gave (`KEPT_TYPES`: a list, a map, a decimal)
    as arrays of that type, in the frame's order; one whose values no longer fit it is left to inference.
    Inferred from pandas' values, a map (dicts, or lists of pairs) was written as text with a warning that
    it held "values of several types", and decimal128(10, 4) as decimal128(6, 4)."""
    kept: dict[str, pa.Array[Any]] = {}
    noted = frame.attrs.get(KEPT_TYPES)
    if not isinstance(noted, str):
        return kept
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(noted)))
    types = {field.name: field.type for field in schema}
    for name in frame.columns:
        if name not in types:
            continue
        with contextlib.suppress(pa.ArrowException, TypeError, ValueError, OverflowError):
            kept[name] = pa.array(frame[name], type=types[name], from_pandas=True)
    return kept
