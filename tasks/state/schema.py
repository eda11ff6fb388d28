"""The state table's row: one immutable `RowState` (a named tuple), its fixed Arrow schema, and
conversions between the two.

Every column keeps its Arrow type even when all its values are null, so a segment written before any row
completed still reads back as `int64` tokens and `timestamp[us, UTC]` times. `version` is not a business
field: it is the number of the checkpoint that wrote this version of the row, and it makes "the latest
version of each row" computable from the files alone (see `rowrelay.tasks.state.segments`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.records import RowStatus

SCHEMA_VERSION = 9
"""Bumped whenever the columns change; older files are migrated on read (`migrations`)."""
SCHEMA_VERSION_KEY = b"rowrelay.schema_version"
ROWS_KEY = b"rowrelay.rows"
"""How many rows a state file holds, in its metadata (`segments.write_state_file`): a flipped bit in a
row group's count in the footer, which no page checksum covers, read back as a file of fewer rows."""

_TS = pa.timestamp("us", tz="UTC")
_FIELDS: list[pa.Field[Any]] = [
    pa.field("row_key", pa.string(), nullable=False),
    pa.field("row_index", pa.int64(), nullable=False),
    pa.field("input_hash", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("response_id", pa.string()),
    pa.field("sequence_number", pa.int64()),
    pa.field("attempts", pa.int32(), nullable=False),
    pa.field("orphans", pa.int32(), nullable=False),
    pa.field("error_type", pa.string()),
    pa.field("error_code", pa.string()),
    pa.field("error_message", pa.string()),
    pa.field("output_text", pa.string()),
    pa.field("input_tokens", pa.int64()),
    pa.field("output_tokens", pa.int64()),
    pa.field("reasoning_tokens", pa.int64()),
    pa.field("model", pa.string()),
    pa.field("submitted_at", _TS),
    pa.field("completed_at", _TS),
    pa.field("updated_at", _TS, nullable=False),
    pa.field("note", pa.string()),
    pa.field("writer", pa.string(), nullable=False),
    pa.field("version", pa.int64(), nullable=False),
    pa.field("previous_response_ids", pa.string()),
    pa.field("cached_input_tokens", pa.int64()),
    pa.field("service_tier", pa.string()),
    pa.field("cost_usd", pa.float64()),
    pa.field("endpoint", pa.string()),
    pa.field("reasoning_summary", pa.string()),
    pa.field("tool_calls", pa.int64()),
    pa.field("citations", pa.string()),
    pa.field("logprobs", pa.string()),
]
SCHEMA = pa.schema(_FIELDS, metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()})


class RowState(NamedTuple):
    """One version of one row. Attributes mirror `SCHEMA` column for column, in the same order.

    A named tuple, not a frozen dataclass: a run builds three to five versions of every row, and a
    frozen dataclass of 27 fields cost 1.7 µs to build against 0.2 µs (timeit), about 3% of a row's
    CPU at zero latency (tests/benchmarks/bench_throughput.py). Its values are the tuple itself.
    """

    row_key: str
    row_index: int
    input_hash: str
    status: RowStatus
    response_id: str | None
    sequence_number: int | None
    attempts: int
    orphans: int
    error_type: str | None
    error_code: str | None
    error_message: str | None
    output_text: str | None
    input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    model: str | None
    submitted_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    note: str | None
    writer: str
    version: int
    # The earlier responses of this attempt, space-separated, oldest first, when the row's work moved on
    # to a new one (an agent's tool round answers a response's function calls with a new, paid, response):
    # a resumed row continues from `response_id`, the latest, and every paid response stays on record.
    previous_response_ids: str | None = None
    # Of `input_tokens`, those the server served from its prompt cache (charged at the cached rate).
    cached_input_tokens: int | None = None
    # The processing tier the response reports it was served in (`default`, `flex`, `priority`).
    service_tier: str | None = None
    # What this row's responses cost, in US dollars, summed over its attempts (not cleared when the row
    # is sent again, unlike the per-response columns): null until a response with usage and a known price
    # ends. Priced from `rowrelay.tasks.llm.prices` (reasoning tokens as output).
    cost_usd: float | None = None
    # The name of the endpoint (`--endpoints`) the row's current response was created on, set with
    # `submitting`: a row holding a token is polled, streamed and cancelled there, never elsewhere. Null
    # when the batch ran without `--endpoints` (the run's own settings).
    endpoint: str | None = None
    # The summary of its reasoning the model wrote for the current response (`--reasoning-summary`), or
    # null: none asked, or a model that wrote none.
    reasoning_summary: str | None = None
    # The server-side tool calls the current response made that are billed beside its tokens (`--tools`:
    # web searches, file searches, code interpreter containers), or null: none made, or none offered.
    tool_calls: int | None = None
    # The sources the current response's answer cites (`rowrelay.tasks.citations`: JSON text, each source
    # once), or null: it cites none, or the row has no answer.
    citations: str | None = None
    # The current response's answer tokens' log probabilities and likeliest alternatives
    # (`rowrelay.tasks.token_logprobs`: JSON text), or null: none asked (`--logprobs`), or no answer.
    logprobs: str | None = None


COLUMNS: tuple[str, ...] = RowState._fields
assert tuple(SCHEMA.names) == COLUMNS, "RowState and SCHEMA must list the same columns in the same order"

POSITION: dict[str, int] = {name: i for i, name in enumerate(COLUMNS)}
_VERSION = POSITION["version"]


def with_version(row: RowState, version: int) -> RowState:
    """`row` as written by checkpoint `version` (what `_replace` does, at 40% of its cost)."""
    values = list(row)
    values[_VERSION] = version
    return RowState._make(values)


def empty_table() -> pa.Table:
    """A table with `SCHEMA` and no rows (`Schema.empty_table()` would import pandas: 1-2 s per process)."""
    return pa.Table.from_arrays([pa.array([], f.type) for f in SCHEMA], schema=SCHEMA)


def to_datetime(seconds: float) -> datetime:
    """An epoch time (what a `clock` returns) as the aware UTC datetime stored in the table."""
    return datetime.fromtimestamp(seconds, UTC)


_ROW = pa.struct(SCHEMA)
"""A row as one Arrow struct of `SCHEMA`'s fields."""


def rows_to_table(rows: Sequence[RowState]) -> pa.Table:
    """Rows as an Arrow table with exactly `SCHEMA` (types kept even when a column is all null).

    Converted as one struct array, then split into its fields: one conversion in C, where a column at a
    time was one per column, each with its Python-side setup (31 a checkpoint, taken on the event loop
    at every group commit: 76 against 179 µs for one row, 161 against 331 for forty)."""
    if not rows:
        return empty_table()
    structs = cast(pa.StructArray, pa.array(rows, type=_ROW))
    return pa.Table.from_arrays(structs.flatten(), schema=SCHEMA)


def table_to_rows(table: pa.Table) -> list[RowState]:
    """Every row of a `SCHEMA` table as RowState, converting column by column (the fast path)."""
    columns = [column_values(table.column(name)) for name in COLUMNS]
    return list(map(RowState._make, zip(*columns, strict=True)))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def column_values(column: pa.Array[Any] | pa.ChunkedArray[Any]) -> list[Any]:
    """A column's values as Python objects, timestamps as aware UTC datetimes built from their microseconds:
    pyarrow's own conversion of a zoned timestamp costs ~5 µs a value, most of a row's read."""
    if not pa.types.is_timestamp(column.type):
        return column.to_pylist()
    assert column.type.unit == "us", "the table's times are microseconds"
    micros: list[int | None] = column.cast(pa.int64()).to_pylist()
    return [None if us is None else _EPOCH + timedelta(microseconds=us) for us in micros]


def value_counts(column: Any) -> dict[str, int]:
    """Occurrences of each value of an Arrow string column."""
    if len(column) == 0:
        return {}
    counts: Any = pc.value_counts(column)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))


def pending_table(planned: pa.Table, now: datetime, writer: str, version: int) -> pa.Table:
    """Brand-new `pending` rows from (row_key, row_index, input_hash) columns (a million in well under
    a second)."""
    n = planned.num_rows
    columns: dict[str, Any] = {
        name: pa.nulls(n, field.type) for name, field in zip(SCHEMA.names, SCHEMA, strict=True)
    }
    columns.update(
        row_key=planned.column("row_key"),
        row_index=planned.column("row_index"),
        input_hash=planned.column("input_hash"),
        status=pa.repeat(pa.scalar("pending"), n),
        attempts=pa.repeat(pa.scalar(0, pa.int32()), n),
        orphans=pa.repeat(pa.scalar(0, pa.int32()), n),
        updated_at=pa.repeat(pa.scalar(now, SCHEMA.field("updated_at").type), n),
        writer=pa.repeat(pa.scalar(writer), n),
        version=pa.repeat(pa.scalar(version, pa.int64()), n),
    )
    return pa.Table.from_arrays([columns[name] for name in SCHEMA.names], schema=SCHEMA)
