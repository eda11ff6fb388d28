"""A Parquet file of nested columns (a list, a struct, a map, a list of strings), three rows, one of them
nulls: what a DataFrame read with `dtype_backend="pyarrow"` renders into prompts as the file does."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_nested(path: Path) -> Path:
    table = pa.table(
        {
            "lst": pa.array([[1, 2], [3, None], None]),
            "st": pa.array([{"x": 1, "y": "q"}, {"x": 2, "y": "r"}, None]),
            "mp": pa.array([[("k", 1)], [("j", 2), ("é", 3)], None], pa.map_(pa.string(), pa.int64())),
            "tags": pa.array([["a", "b"], [], ["c"]]),
        }
    )
    pq.write_table(table, path)
    return path
