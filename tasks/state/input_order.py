"""The order of a batch's rows in its last run's input: what `load` sorts by, as an output is written.

A row's `row_index` is where it was when first planned. An input sorted, or with rows put in front,
since then holds the old rows at new places, and rows planned later got their places in the new input:
sorted by `row_index`, the batch read as the two orders interleaved (a trial: `d a b c e` for the input
`d c b e a`). An output is written in the input's order (`results.results_frame`, through
`input_positions`); `load` reads no input, so the run's plan notes that order here, once it differs from
the recorded one, and `load` sorts by the same positions.

    DIR/input-order.arrow    the input's row keys, in input order (Arrow IPC: no `.parquet`, so a
                             `DIR/**/*.parquet` glob over the table's files never reads it as rows)

A batch whose input never moved a row needs no note (`row_index` is its order), and has none: the note of
an earlier run is removed when the input is back in the order its rows were planned in.

    record_input_order(directory, table.columns(None, ("row_key", "row_index")), prepared.keys)
    in_input_order(read_table(directory)[0], input_order(directory))      # `load`
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from rowrelay.tasks.durable import atomic_write
from rowrelay.tasks.errors import DamagedFileError
from rowrelay.tasks.state.files import reading, writing

__all__ = ["ORDER_FILE", "in_input_order", "input_order", "input_positions", "record_input_order"]

ORDER_FILE = "input-order.arrow"
_KEY = "row_key"
_AGAIN = "the batch's next run writes it again (load(..., skip_damaged=True) reads the rows by row_index)"


def input_positions(row_keys: pa.Array[Any] | pa.ChunkedArray[Any], keys: pa.Array[Any]) -> pa.Array[Any]:
    """Where each of `row_keys` is in `keys` (the input's row keys, in input order); null for a key the
    input does not hold. The one decision of a row's place: an output's (`results_frame`) and `load`'s."""
    return pc.index_in(row_keys, value_set=pc.cast(keys, pa.string()))


def in_input_order(latest: pa.Table, keys: pa.Array[Any] | None) -> pa.Table:
    """`latest` (rows with `row_key` and `row_index`) in the order of `keys` (None: by `row_index`); rows
    the input does not hold (left out of it since they were planned) follow, by `row_index`."""
    if keys is None:
        return latest.sort_by("row_index")
    held: Any = input_positions(latest.column(_KEY), keys)
    place: Any = pc.fill_null(held, pa.scalar(len(keys), pa.int32()))  # rows left out: after the input's
    ordered = latest.append_column("__place", place).sort_by(
        [("__place", "ascending"), ("row_index", "ascending")]
    )
    return ordered.drop_columns(["__place"])


def record_input_order(directory: Path, planned: pa.Table, keys: pa.Array[Any]) -> None:
    """Note `keys` (the run's input's row keys, in input order) for `load`, when the batch's rows
    (`planned`: every row's `row_key` and `row_index`, once the plan added the input's) are not already
    in that order by `row_index`; otherwise remove an earlier note."""
    path = directory / ORDER_FILE
    if _planned_in_order(planned, keys):
        with writing(path):
            path.unlink(missing_ok=True)
        return
    table = pa.table({_KEY: pc.cast(keys, pa.string())})

    def write(handle: Any) -> None:
        with ipc.new_file(handle, table.schema) as writer:
            writer.write_table(table)

    with writing(path):
        atomic_write(path, write)


def input_order(directory: Path) -> pa.Array[Any] | None:
    """The keys the batch's last run noted (`record_input_order`), or None: no note, the rows' `row_index`
    is their order. A damaged note raises `DamagedFileError` naming it."""
    path = Path(directory) / ORDER_FILE
    try:
        with reading(path):
            data = path.read_bytes()
        with ipc.open_file(pa.BufferReader(data)) as opened:
            table = opened.read_all()
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowInvalid) as exc:  # torn or truncated
        raise DamagedFileError(str(path), f"unreadable note of the input's order ({exc}); {_AGAIN}") from exc
    if table.column_names != [_KEY] or not pa.types.is_string(table.schema.field(_KEY).type):
        raise DamagedFileError(str(path), f"not a note of the input's order; {_AGAIN}")
    return table.column(_KEY).combine_chunks()


def _planned_in_order(planned: pa.Table, keys: pa.Array[Any]) -> bool:
    """Whether the batch's rows sorted by `row_index` are the input's rows in input order, alone: each
    input key's recorded `row_index` is its position (and the batch holds no other row)."""
    if planned.num_rows != len(keys):
        return False
    at = input_positions(planned.column(_KEY), keys)
    same: Any = pc.equal(pc.cast(at, pa.int64()), pc.cast(planned.column("row_index"), pa.int64()))
    return bool(pc.all(pc.fill_null(same, False)).as_py())
