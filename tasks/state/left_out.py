"""Rows of a batch its last run's input did not hold: noted by the run, counted apart by `status`.

A row removed from the input stays in the state (put back, it resumes where it was), but the run neither
sends it nor counts it: its counts, output and closing line cover its input. `status` reads the state
alone, so without a note it counted those rows as the batch's: 100 removed pending rows showed `pending
100` for ever, and a monitor reading `counts.pending` never saw the batch finish. The run's plan notes
their keys in `run.json` (`RunRecord.left_out`); `reader.summarize` counts them apart.

    record_left_out(directory, ["r000040", "r000041"])   # the plan, after it added the input's rows
    left_out_keys(read_run_record(directory))            # status: as Arrow, or None
"""

from __future__ import annotations

import array
import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.state.run_record import RunRecord, read_run_record, write_run_record

__all__ = ["keys_outside", "left_out_keys", "record_left_out", "split_left_out", "string_array"]


def record_left_out(directory: Path, keys: Sequence[str]) -> None:
    """Note `keys` (the batch's rows its run's input does not hold; none: every row is in it) in the
    run's record, which the run wrote before its plan; nothing when there is no record (a table planned
    from Python without a run)."""
    record = read_run_record(directory)
    noted = list(keys) or None
    if record is None or record.left_out == noted:
        return
    write_run_record(directory, dataclasses.replace(record, left_out=noted))


def left_out_keys(record: RunRecord | None) -> pa.Array[Any] | None:
    """The keys the batch's last run noted as not in its `record` (`record_left_out`), as Arrow strings;
    None when it noted none (or no run got as far as its plan: no record). The record is read by the
    caller, once, for what else it says (`reader.summary`: the batch's max_attempts too)."""
    if record is None or not record.left_out:
        return None
    return string_array(record.left_out)


def keys_outside(latest: pa.Table, keys: pa.Array[Any]) -> pa.Array[Any]:
    """The keys of `latest`'s rows (a batch's latest state) that the input (`keys`) does not hold."""
    row_keys = latest.column("row_key")
    return row_keys.filter(pc.invert(pc.is_in(row_keys, value_set=keys))).combine_chunks()


def split_left_out(table: pa.Table, keys: pa.Array[Any] | None) -> tuple[pa.Table, pa.Table]:
    """(the rows of `table` whose keys are not in `keys`, those that are)."""
    if keys is None or not len(keys):
        return table, table.slice(0, 0)
    out: Any = pc.is_in(table.column("row_key"), value_set=keys)
    return table.filter(pc.invert(out)), table.filter(out)


def string_array(values: Sequence[str]) -> pa.Array[Any]:
    """`values` as an Arrow string array, built from its buffers: `pa.array` makes pyarrow import pandas,
    1-2 s that `rowrelay status` never pays for (tests/flows/test_cli_imports.py)."""
    encoded = [value.encode() for value in values]
    offsets = array.array("q", itertools.accumulate(map(len, encoded), initial=0))
    data = pa.py_buffer(b"".join(encoded))
    wide = pa.LargeStringArray.from_buffers(len(encoded), pa.py_buffer(offsets), data)
    return pc.cast(wide, pa.string())
