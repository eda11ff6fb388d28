"""A Parquet input's nested and other types that pandas' values do not tell come back in the output.

pandas reads a fixed-size list, a large list and a list of zoned timestamps as NumPy arrays, a time32 as
Python times, a fixed-size binary as bytes: written back by inference they became `list<int64>`, `list`,
zone-less UTC times (two hours off for a Berlin noon), `time64` and `binary`; and a nested duration was
Python's `1 day, 0:00:00` in CSV where a top-level one is pandas' `1 days 00:00:00`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rowrelay.tasks.dataset import RESULT_COLUMNS, read_input, write_output

COLUMNS = {
    "pair": pa.array([[1, 2], None], pa.list_(pa.int32(), 2)),
    "words": pa.array([["x"], []], pa.large_list(pa.string())),
    "local": pa.array(
        [[dt.datetime(2024, 7, 1, 10, tzinfo=dt.UTC)], [None]], pa.list_(pa.timestamp("us", "Europe/Berlin"))
    ),
    "at": pa.array([dt.time(1), None], pa.time32("ms")),
    "digest": pa.array([b"0123456789abcdef", None], pa.binary(16)),
    "waits": pa.array([[dt.timedelta(days=1)], [None]], pa.list_(pa.duration("us"))),
}


def _results(rows: int) -> pd.DataFrame:
    results = pd.DataFrame({"row_index": range(rows), **{column: [None] * rows for column in RESULT_COLUMNS}})
    results["rowrelay_status"] = "completed"
    return results


def test_the_inputs_types_are_the_parquet_outputs_and_the_text_outputs_values(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], **COLUMNS}), source)
    frame = read_input(source)

    written = pq.read_table(write_output(frame, _results(2), tmp_path / "out.parquet"))
    assert written.select(list(COLUMNS)) == pa.table(COLUMNS)

    text = pd.read_csv(write_output(frame, _results(2), tmp_path / "out.csv"), dtype=str)
    assert list(text["local"]) == ['["2024-07-01 12:00:00+02:00"]', "[null]"]
    assert list(text["waits"]) == ['["1 days 00:00:00"]', "[null]"]  # as a top-level duration is written
    lines = write_output(frame, _results(2), tmp_path / "out.jsonl").read_text().splitlines()
    assert '"local":["2024-07-01T12:00:00+02:00"]' in lines[0]
    assert '"pair":[1,2]' in lines[0]
    assert '"pair":null' in lines[1]
