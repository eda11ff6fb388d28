"""The fixed Arrow schema (types survive all-null columns) and the stepwise migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.errors import StateError
from rowrelay.tasks.state import SCHEMA, SCHEMA_VERSION, StateTable, load
from rowrelay.tasks.state.files import SEGMENTS
from rowrelay.tasks.state.migrations import (
    MIGRATIONS,
    SCHEMA_V1,
    SCHEMA_V2,
    SCHEMA_V3,
    SCHEMA_V4,
    SCHEMA_V5,
    SCHEMA_V6,
    SCHEMA_V7,
    SCHEMA_V8,
)
from rowrelay.tasks.state.schema import SCHEMA_VERSION_KEY, RowState, rows_to_table, table_to_rows
from tests.support.state import FakeClock, rows


def test_all_null_columns_keep_their_types(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(3))
    for path in (batch_dir / "snapshots").glob("*.parquet"):
        written = pq.read_schema(path)
        assert written.remove_metadata() == SCHEMA.remove_metadata()
        assert written.metadata[SCHEMA_VERSION_KEY] == str(SCHEMA_VERSION).encode()
    frame = load(batch_dir)
    assert frame["input_tokens"].isna().all()
    assert str(frame["completed_at"].dtype) == "datetime64[us, UTC]"


def test_migrations_chain_to_the_current_version() -> None:
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def _write_old_segment(directory: Path, schema: pa.Schema, version: bytes) -> None:
    ts = pa.scalar(1_700_000_000_000_000, pa.timestamp("us", tz="UTC"))
    values: dict[str, list[Any]] = {
        "row_key": ["old-0", "old-1"],
        "row_index": [0, 1],
        "input_hash": ["h0", "h1"],
        "status": ["completed", "queued"],
        "response_id": ["resp_a", "resp_b"],
        "attempts": [1, 1],
        "output_text": ["hello", None],
        "updated_at": [ts, ts],
        "writer": ["main", "main"],
        "version": [1, 1],
    }
    values |= {"orphans": [0, 0]} if "orphans" in schema.names else {}
    arrays = [pa.array(values.get(f.name, [None, None]), f.type) for f in schema]
    old = pa.Table.from_arrays(arrays, schema=schema.with_metadata({SCHEMA_VERSION_KEY: version}))
    (directory / SEGMENTS).mkdir(parents=True)
    pq.write_table(old, directory / SEGMENTS / "main-0000000001.parquet")


def test_v1_file_is_migrated_on_read(batch_dir: Path, clock: FakeClock) -> None:
    _write_old_segment(batch_dir, SCHEMA_V1, b"1")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.get("old-0").output_text == "hello"
        assert table.get("old-0").orphans == 0
        assert table.get("old-0").reasoning_tokens is None
        table.transition("old-1", "completed", reasoning_tokens=7)
    frame = load(batch_dir)
    assert frame["reasoning_tokens"].isna().tolist() == [True, False]
    assert frame["reasoning_tokens"].iloc[1] == 7


def test_v2_file_is_migrated_on_read(batch_dir: Path, clock: FakeClock) -> None:
    _write_old_segment(batch_dir, SCHEMA_V2, b"2")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.get("old-1").previous_response_ids is None
        table.update("old-1", response_id="resp_c", previous_response_ids="resp_b")
    frame = load(batch_dir)
    assert frame["previous_response_ids"].isna().tolist() == [True, False]
    assert frame["previous_response_ids"].iloc[1] == "resp_b"
    assert frame["response_id"].tolist() == ["resp_a", "resp_c"]


def test_v3_file_is_migrated_on_read_with_its_cost_unknown(batch_dir: Path, clock: FakeClock) -> None:
    _write_old_segment(batch_dir, SCHEMA_V3, b"3")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        old = table.get("old-1")
        assert (old.cached_input_tokens, old.service_tier, old.cost_usd) == (None, None, None)
        table.transition("old-1", "completed", cached_input_tokens=128, service_tier="flex", cost_usd=0.25)
    frame = load(batch_dir)
    assert frame["cost_usd"].isna().tolist() == [True, False]
    assert frame["cost_usd"].iloc[1] == 0.25
    assert frame["cached_input_tokens"].iloc[1] == 128
    assert frame["service_tier"].tolist()[1] == "flex"


def test_v4_file_is_migrated_on_read_with_no_endpoint(batch_dir: Path, clock: FakeClock) -> None:
    _write_old_segment(batch_dir, SCHEMA_V4, b"4")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.get("old-0").endpoint is None  # sent with the run's own settings
        assert table.get("old-1").response_id == "resp_b"
        table.transition("old-1", "completed", endpoint="east")
    frame = load(batch_dir)
    assert frame["endpoint"].isna().tolist() == [True, False]
    assert frame["endpoint"].tolist()[1] == "east"


def test_v5_file_is_migrated_on_read_with_no_reasoning_summary(batch_dir: Path, clock: FakeClock) -> None:
    _write_old_segment(batch_dir, SCHEMA_V5, b"5")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.get("old-1").reasoning_summary is None  # older releases never asked for one
        table.transition("old-1", "completed", reasoning_summary="**Triage**\n\nA billing question.")
    frame = load(batch_dir)
    assert frame["reasoning_summary"].isna().tolist() == [True, False]
    assert frame["reasoning_summary"].tolist()[1] == "**Triage**\n\nA billing question."


def test_v6_file_is_migrated_on_read_with_no_tool_calls(batch_dir: Path, clock: FakeClock) -> None:
    _write_old_segment(batch_dir, SCHEMA_V6, b"6")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.get("old-1").tool_calls is None  # older releases offered no tools
        table.transition("old-1", "completed", tool_calls=4)
    frame = load(batch_dir)
    assert frame["tool_calls"].isna().tolist() == [True, False]
    assert frame["tool_calls"].tolist()[1] == 4


def test_v7_file_is_migrated_on_read_with_no_citations(batch_dir: Path, clock: FakeClock) -> None:
    _write_old_segment(batch_dir, SCHEMA_V7, b"7")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.get("old-1").citations is None  # older releases kept none
        table.transition("old-1", "incomplete", citations='[{"url": "https://a.example"}]')
        table.transition("old-1", "submitting")  # sent again: the new response's citations, not these
        assert table.get("old-1").citations is None
    assert load(batch_dir)["citations"].isna().all()


def test_v8_file_is_migrated_on_read_with_no_logprobs(batch_dir: Path, clock: FakeClock) -> None:
    _write_old_segment(batch_dir, SCHEMA_V8, b"8")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.get("old-1").logprobs is None  # older releases kept none
        table.transition("old-1", "incomplete", logprobs='[["Hi", -0.1, []]]')
        table.transition("old-1", "submitting")  # sent again: the new response's, not these
        assert table.get("old-1").logprobs is None
    assert load(batch_dir)["logprobs"].isna().all()


def test_sending_a_row_again_names_only_its_new_endpoint(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(1))
        key = rows(1)[0][0]
        table.transition(key, "submitting", endpoint="east")
        table.transition(key, "queued", response_id="resp_a")
        table.transition(key, "expired", error_type="expired")
        assert table.get(key).endpoint == "east"
        again = table.transition(key, "submitting")
    assert again.endpoint is None  # sent again without --endpoints: the old server holds nothing now


def test_sending_a_row_again_keeps_what_it_cost(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(1))
        key = rows(1)[0][0]
        table.transition(key, "submitting")
        table.transition(key, "queued", response_id="resp_a")
        table.transition(key, "incomplete", cached_input_tokens=0, service_tier="default", cost_usd=0.5)
        again = table.transition(key, "submitting")
    assert again.cost_usd == 0.5  # paid all the same
    assert (again.cached_input_tokens, again.service_tier) == (None, None)  # the next response's to say


def test_sending_a_row_again_clears_the_last_responses_summary_and_tool_calls(
    batch_dir: Path, clock: FakeClock
) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(1))
        key = rows(1)[0][0]
        table.transition(key, "submitting")
        table.transition(key, "queued", response_id="resp_a")
        table.transition(key, "incomplete", reasoning_summary="**Thinking**\n\nLong.", tool_calls=3)
        again = table.transition(key, "submitting")
    assert (again.reasoning_summary, again.tool_calls) == (None, None)


def test_newer_schema_is_refused(batch_dir: Path, clock: FakeClock) -> None:
    (batch_dir / SEGMENTS).mkdir(parents=True)
    newer = SCHEMA.empty_table().replace_schema_metadata({SCHEMA_VERSION_KEY: b"99"})
    pq.write_table(newer, batch_dir / SEGMENTS / "main-0000000001.parquet")
    with pytest.raises(StateError, match="newer"):
        StateTable.open(batch_dir, batch_id="b1", clock=clock)


def _value(kind: pa.DataType, n: int) -> Any:
    """A value of an Arrow type of `SCHEMA`, different for each `n`."""
    if pa.types.is_timestamp(kind):
        return datetime(2026, 12, 6, 12, 0, n, 123456, tzinfo=UTC)
    if pa.types.is_floating(kind):
        return n + 0.25
    if pa.types.is_integer(kind):
        return n
    return f"text {n} \u00e9"


def test_rows_become_a_table_of_exactly_the_schema_and_come_back_the_same() -> None:
    """Every column set (each of its types), none set but those a row always has, and the two mixed: the
    table has `SCHEMA`'s types, and read back each row is the row written (times to the microsecond, in
    UTC)."""
    full = [RowState(*(_value(field.type, n) for field in SCHEMA)) for n in range(3)]
    unset: dict[str, Any] = dict.fromkeys(RowState._field_defaults)  # every column a row may leave null
    sparse = full[1]._replace(**unset)
    for written in (full, [sparse], [full[0], sparse, full[2]]):
        table = rows_to_table(written)
        assert table.schema == SCHEMA
        assert table_to_rows(table) == written
    assert rows_to_table([]).schema == SCHEMA
