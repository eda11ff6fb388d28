"""Readers (`load`, `summary`, `latest_sql`) work from any process, mid-run, without the lease."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from rowrelay.tasks.records import DEFAULT_MAX_ATTEMPTS
from rowrelay.tasks.state import StateTable, latest_sql, load, summarize, summary
from tests.support.state import FakeClock, rows


def _complete(table: StateTable, clock: FakeClock, key: str, seconds: float, tokens: int) -> None:
    table.transition(key, "submitting")
    table.transition(key, "queued", response_id=f"resp-{key}")
    clock.advance(seconds)
    table.transition(key, "completed", output_text="ok", input_tokens=tokens, output_tokens=2 * tokens,
                     reasoning_tokens=1)  # fmt: skip


def test_readable_while_a_writer_holds_the_lease(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(10))
        for i in range(4):
            _complete(table, clock, f"row-{i:06d}", seconds=i + 1, tokens=10)
        table.transition("row-000005", "submitting")
        table.flush()
        table.transition("row-000006", "submitting")  # not yet durable: readers cannot see it
        frame = load(batch_dir)
        assert list(frame["row_index"]) == list(range(10))
        assert frame.set_index("row_key").loc["row-000005", "status"] == "submitting"
        assert frame.set_index("row_key").loc["row-000006", "status"] == "pending"
        report = summary(batch_dir)
    assert report["rows"] == 10
    assert report["counts"]["completed"] == 4
    assert report["counts"]["submitting"] == 1
    assert report["input_tokens"] == 40
    assert report["output_tokens"] == 80
    assert report["reasoning_tokens"] == 4
    assert report["latency_p50"] == 2.5
    assert 3.5 < report["latency_p95"] <= 4.0
    assert report["problems"] == []


def test_summary_gives_what_was_spent_and_projects_the_rest(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(10))
        for i in range(4):
            _complete(table, clock, f"row-{i:06d}", seconds=1, tokens=10)
            table.update(f"row-{i:06d}", cost_usd=0.25, cached_input_tokens=i)
    report = summary(batch_dir)
    assert report["cost_usd"] == 1.0
    assert report["cached_input_tokens"] == 6
    assert report["projected_cost_usd"] == 2.5  # six rows to go at a quarter each


def test_summary_of_an_empty_batch(batch_dir: Path, clock: FakeClock) -> None:
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    report = summary(batch_dir)
    assert report["rows"] == 0
    assert report["latency_p50"] is None
    assert report["cost_usd"] is None
    assert report["projected_cost_usd"] is None


def query(sql: str) -> list[tuple[Any, ...]]:
    """The rows of a DuckDB select (`duckdb.sql` returns None only for statements that yield none)."""
    relation = duckdb.sql(sql)
    assert relation is not None
    return relation.fetchall()


def test_latest_sql_matches_load(batch_dir: Path, clock: FakeClock) -> None:
    table = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    table.add_pending(rows(6))
    for i in range(3):
        _complete(table, clock, f"row-{i:06d}", seconds=1, tokens=1)
        table.flush()
    raw = query(f"select count(*) from read_parquet('{batch_dir}/**/*.parquet')")
    assert raw[0][0] > 6  # raw DuckDB sees every version of every row
    latest = query(f"select row_key, status from ({latest_sql(batch_dir)})")
    frame = load(batch_dir)
    assert latest == list(zip(frame["row_key"], frame["status"], strict=True))
    counts = query(f"select status, count(*) n from ({latest_sql(batch_dir)}) group by all")
    assert dict(counts) == {"completed": 3, "pending": 3}
    table.close()


def test_timestamps_are_utc(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(1))
        row = table.transition("row-000000", "submitting")
    assert row.submitted_at is not None
    assert row.submitted_at.utcoffset() == timedelta(0)
    stored = load(batch_dir).loc[0, "submitted_at"]
    assert isinstance(stored, pd.Timestamp)
    assert stored.tz is not None
    assert stored.timestamp() == clock.now


def test_an_open_or_closed_tables_latest_rows_are_what_the_readers_read_back(
    batch_dir: Path, clock: FakeClock
) -> None:
    """A run summarises and exports from `table.latest()` instead of reading the files it just wrote:
    the two must agree, unflushed changes and all (then flushed by close)."""
    table = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    table.add_pending(rows(6))
    for i in range(3):
        _complete(table, clock, f"row-{i:06d}", seconds=i + 1, tokens=5)
    table.flush()
    table.transition("row-000004", "submitting")  # not yet durable
    assert table.latest().column("status").to_pylist()[3:5] == ["pending", "submitting"]
    table.close()
    latest = table.latest()
    pd.testing.assert_frame_equal(latest.to_pandas(), load(batch_dir), check_like=False)
    read_back = summary(batch_dir)
    assert read_back.pop("last_run") is None  # the batch's last run (none here): the files', not the rows'
    assert summarize(latest, [], max_attempts=DEFAULT_MAX_ATTEMPTS) == {**read_back, "problems": []}
