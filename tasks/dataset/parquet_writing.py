"""The output as Parquet: one Arrow type per column, the input's own where its file gave one.

Results' typed columns (structured outputs) are Arrow-backed; the input's columns are pandas' values,
whose types Arrow infers, but for a Parquet input's nested, decimal and other columns whose type the
input's file gave (`kept_types`); a column Parquet has no type for is written as text.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rowrelay.tasks.dataset.kept_types import kept_arrays
from rowrelay.tasks.dataset.templates import cell_text

log = logging.getLogger("rowrelay.output")

__all__ = ["nested_columns", "write_parquet"]


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """`frame` (the input joined with its results) to `path` as Parquet."""
    kept = kept_arrays(frame)
    rest = frame.drop(columns=list(kept))
    rest.attrs = {}  # pyarrow would write them into the file's metadata: they are ours, not the data's
    try:
        table = pa.Table.from_pandas(rest, preserve_index=False)
    except (pa.ArrowException, OverflowError):  # an int past int64 inside a list: Overflow
        table = pa.Table.from_pandas(_untyped_as_text(rest), preserve_index=False)
    for name, array in kept.items():  # back in their places, in order, so each index is already right
        table = table.add_column(list(frame.columns).index(name), name, array)
    nested = nested_columns(frame)
    if not nested:
        pq.write_table(table, path)
        return
    # pandas records an Arrow-backed list or struct column's dtype as text it cannot read back
    # (`list<item: string>[pyarrow]`): written as is, the file would not open in pandas. Said to be
    # `object`, the column reads back as lists and dicts; its Arrow type is in the file either way.
    metadata = orjson.loads(table.schema.metadata[b"pandas"])
    for column in metadata["columns"]:
        if column["name"] in nested:
            column["numpy_type"] = "object"
    schema_metadata = {**table.schema.metadata, b"pandas": orjson.dumps(metadata)}
    pq.write_table(table.replace_schema_metadata(schema_metadata), path)


def _untyped_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each column Parquet has no type for as text, said once per column: values of several
    types (as a DataFrame built in Python may hold: 1, "x", 2.5), nested values as JSON
    (`templates.cell_text`, as prompts show them), and a NumPy kind Arrow does not take (complex numbers,
    `(1+2j)`, as CSV and JSONL write them). The output, written after every row was paid for, once failed
    on such a column ("Unsupported numpy type 15")."""
    as_text: dict[str, pd.Series] = {}
    for column, dtype in frame.dtypes.items():
        try:
            pa.array(frame[column], from_pandas=True)
        except (pa.ArrowException, OverflowError):
            values = frame[column]
            as_text[str(column)] = values.map(cell_text).where(values.notna(), None)
            kind = "holds values of several types" if pd.api.types.is_object_dtype(dtype) else f"is {dtype}"
            log.warning("column %r %s: written to Parquet as text", column, kind)
    return frame.assign(**as_text)


def nested_columns(frame: pd.DataFrame) -> list[str]:
    """Arrow-backed list and struct columns (structured outputs' typed columns)."""
    return [
        str(column)
        for column, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.ArrowDtype) and pa.types.is_nested(dtype.pyarrow_dtype)
    ]
