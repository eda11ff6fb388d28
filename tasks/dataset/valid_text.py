"""Text an input says is UTF-8 but is not, found before anything is spent and named by column and row.

Parquet's `string` type promises UTF-8, but not every writer keeps the promise (Spark and Hive can write
bytes as `string`), and neither pyarrow nor pandas checks it on reading: such a column surfaced when a
prompt was rendered (a 30-frame traceback), or, when no prompt used it, when the output was written,
after every row had been sent and paid for. Arrow checks a whole column at C speed (`validate`); only a
column that fails is walked row by row, to say where.

    problem = invalid_text({"text": table.column("text")})   # "column 'text' is not UTF-8 text at row 2 ..."
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = ["arrow_columns", "invalid_text"]


def invalid_text(columns: Mapping[str, pa.ChunkedArray[Any]]) -> str | None:
    """Where the first of `columns` holding text that is not UTF-8 first does so: ``column 'text' is not
    UTF-8 text at row 2 (it holds byte 0xe9)``, rows counted from 1; None if every one is valid."""
    for name, column in columns.items():
        offset = 0
        for chunk in column.chunks:
            try:
                chunk.validate(full=True)
            except pa.ArrowInvalid:
                found = _first_undecodable(chunk)
                if found is not None:
                    row, byte = found
                    held = "" if byte is None else f" (it holds byte {byte:#04x})"
                    return f"column {name!r} is not UTF-8 text at row {offset + row + 1}{held}"
            offset += len(chunk)
    return None


def _first_undecodable(chunk: pa.Array[Any]) -> tuple[int, int | None] | None:
    """The first row of `chunk` whose value does not decode (a string, or a list, struct, map or dictionary
    holding one), and the byte that stopped it when it is said; None if every value decodes."""
    for row in range(len(chunk)):
        try:
            chunk[row].as_py()
        except UnicodeDecodeError as exc:
            return row, exc.object[exc.start]
        except pa.ArrowException:  # a dictionary's or a nested value's: pyarrow does not give the byte
            return row, None
    return None


def arrow_columns(frame: pd.DataFrame) -> dict[str, pa.ChunkedArray[Any]]:
    """The columns of `frame` that pandas keeps as Arrow data (its `str` columns and `ArrowDtype` ones),
    as that data, without a copy: the only ones that can hold text that is not UTF-8 (a Python `str`
    always is)."""
    arrow: dict[str, pa.ChunkedArray[Any]] = {}
    for name, series in _arrow_backed(frame):
        data: Any = pa.array(series)
        arrow[str(name)] = pa.chunked_array([data]) if isinstance(data, pa.Array) else data
    return arrow


def _arrow_backed(frame: pd.DataFrame) -> Iterable[tuple[object, pd.Series]]:
    for name, series in frame.items():
        dtype = series.dtype
        if isinstance(dtype, pd.ArrowDtype) or (
            isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
        ):
            yield name, series
