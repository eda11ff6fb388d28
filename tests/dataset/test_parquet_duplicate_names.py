"""A Parquet file whose fields name a column twice is refused in the line a CSV header naming one twice
gets: pyarrow's own words were `Multiple matches for FieldRef.Name(a) in id: string a: string ...`."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.dataset import read_input
from rowrelay.tasks.errors import UsageError


def test_a_parquet_field_given_twice_is_refused_as_a_csv_column_is(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    names = ["id", "a", "b", "a", "b"]
    pq.write_table(pa.Table.from_arrays([pa.array(["1", "2"])] * 5, names=names), path)
    with pytest.raises(UsageError) as refused:
        read_input(path)
    assert str(refused.value) == f"{path} has duplicate column names: a, b"
