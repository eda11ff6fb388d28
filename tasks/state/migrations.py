"""Stepwise schema migrations: `MIGRATIONS[v]` turns a version-`v` table into a version-`v + 1` one.

A file records its schema version in the Parquet metadata (`rowrelay.schema_version`); reading applies
each step in turn up to `SCHEMA_VERSION`, so a new version only ever needs one new function. A file from a
newer rowrelay is refused rather than guessed at.

History:
    1  the first layout: no `reasoning_tokens`, no `orphans` counter.
    2  adds `reasoning_tokens` (int64, null when unknown) and `orphans` (int32, 0).
    3  adds `previous_response_ids` (string of space-separated ids; null: the row never moved on).
    4  adds `cached_input_tokens` (int64), `service_tier` (string) and `cost_usd` (float64), all null:
       what older rows cost was not recorded, so it stays unknown rather than guessed.
    5  adds `endpoint` (string, null): rows of older releases were all sent with the run's own settings.
    6  adds `reasoning_summary` (string, null): older releases never asked for one.
    7  adds `tool_calls` (int64, null): older releases offered no server-side tools.
    8  adds `citations` (string, null): older releases kept no citations.
    9  adds `logprobs` (string, null): older releases kept no token log probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pyarrow as pa

from rowrelay.tasks.errors import StateError
from rowrelay.tasks.state.schema import SCHEMA, SCHEMA_VERSION

_V4_COLUMNS = ("cached_input_tokens", "service_tier", "cost_usd")
SCHEMA_V8 = pa.schema([f for f in SCHEMA if f.name != "logprobs"])
SCHEMA_V7 = pa.schema([f for f in SCHEMA_V8 if f.name != "citations"])
SCHEMA_V6 = pa.schema([f for f in SCHEMA_V7 if f.name != "tool_calls"])
SCHEMA_V5 = pa.schema([f for f in SCHEMA_V6 if f.name != "reasoning_summary"])
SCHEMA_V4 = pa.schema([f for f in SCHEMA_V5 if f.name != "endpoint"])
SCHEMA_V3 = pa.schema([f for f in SCHEMA_V4 if f.name not in _V4_COLUMNS])
SCHEMA_V2 = pa.schema([f for f in SCHEMA_V3 if f.name != "previous_response_ids"])
SCHEMA_V1 = pa.schema([f for f in SCHEMA_V2 if f.name not in ("reasoning_tokens", "orphans")])
"""The version-1 to -8 columns (kept so tests can write genuine old files)."""


def _v1_to_v2(table: pa.Table) -> pa.Table:
    n = table.num_rows
    table = table.append_column(SCHEMA.field("reasoning_tokens"), pa.nulls(n, pa.int64()))
    zeros = pa.array([0] * n, pa.int32()) if n else pa.array([], pa.int32())
    return table.append_column(SCHEMA.field("orphans"), zeros)


def _v2_to_v3(table: pa.Table) -> pa.Table:
    field = SCHEMA.field("previous_response_ids")
    return table.append_column(field, pa.nulls(table.num_rows, field.type))


def _v3_to_v4(table: pa.Table) -> pa.Table:
    for name in _V4_COLUMNS:
        field = SCHEMA.field(name)
        table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


def _v4_to_v5(table: pa.Table) -> pa.Table:
    return _with_null_column(table, "endpoint")


def _v5_to_v6(table: pa.Table) -> pa.Table:
    return _with_null_column(table, "reasoning_summary")


def _v6_to_v7(table: pa.Table) -> pa.Table:
    return _with_null_column(table, "tool_calls")


def _v7_to_v8(table: pa.Table) -> pa.Table:
    return _with_null_column(table, "citations")


def _v8_to_v9(table: pa.Table) -> pa.Table:
    return _with_null_column(table, "logprobs")


def _with_null_column(table: pa.Table, name: str) -> pa.Table:
    field = SCHEMA.field(name)
    return table.append_column(field, pa.nulls(table.num_rows, field.type))


WRITTEN: Mapping[int, pa.Schema] = {
    1: SCHEMA_V1, 2: SCHEMA_V2, 3: SCHEMA_V3, 4: SCHEMA_V4, 5: SCHEMA_V5, 6: SCHEMA_V6, 7: SCHEMA_V7,
    8: SCHEMA_V8, SCHEMA_VERSION: SCHEMA,
}  # fmt: skip
"""The columns a file of each schema version holds, with their types."""


def retyped(table: pa.Table, version: int) -> str | None:
    """A column of `table`, read from a file of schema `version`, that is not of that version's type, or
    None. `migrate` casts to the current types, and a cast can be silent where it should not be: a bit
    flipped in the footer made a timestamp's unit nanoseconds, and every time read back as 1970."""
    written = WRITTEN.get(version)
    if written is None:
        return None  # a version `migrate` refuses
    for field in table.schema:
        index = written.get_field_index(field.name)
        if index >= 0 and written.field(index).type != field.type:
            return f"column {field.name} is {field.type}, not {written.field(index).type}"
    return None


MIGRATIONS: Mapping[int, Callable[[pa.Table], pa.Table]] = {
    1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6, 6: _v6_to_v7, 7: _v7_to_v8,
    8: _v8_to_v9,
}  # fmt: skip


def migrate(table: pa.Table, version: int, source: str) -> pa.Table:
    """`table` (schema `version`, read from `source`) brought to the current `SCHEMA`, columns in order."""
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{source}: schema version {version} is newer than this rowrelay ({SCHEMA_VERSION}); upgrade"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise StateError(f"{source}: no migration from schema version {version}")
        table = step(table)
        version += 1
    return table.select(list(SCHEMA.names)).cast(SCHEMA)
