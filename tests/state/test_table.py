"""The table's API: rows, keys, counts, add_pending, flush, group commit, close."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.errors import StateError
from rowrelay.tasks.state import StateTable, load
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS
from tests.support.state import FakeClock, rows


def _segments(directory: Path) -> list[Path]:
    return sorted((directory / SEGMENTS).glob("*.parquet"))


def test_add_pending_adds_only_unseen(table: StateTable) -> None:
    table.transition("row-000001", "submitting")
    assert table.add_pending(rows(12)) == 2
    assert len(table) == 12
    assert table.get("row-000001").status == "submitting"
    assert "row-000011" in table
    assert "nope" not in table
    assert table.add_pending([("dup", 50, "h"), ("dup", 51, "h")]) == 1


def test_add_pending_is_durable_at_once(batch_dir: Path, table: StateTable) -> None:
    assert len(load(batch_dir)) == 10


def test_get_unknown_key(table: StateTable) -> None:
    with pytest.raises(KeyError, match="nope"):
        table.get("nope")


def test_rows_and_keys_follow_row_index(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending([("c", 2, "h"), ("a", 0, "h"), ("b", 1, "h")])
        table.transition("b", "submitting")
        assert table.keys_with_status(["pending"]) == ["a", "c"]
        assert [r.row_key for r in table.rows()] == ["a", "b", "c"]
        assert [r.status for r in table.rows(["submitting", "pending"])] == [
            "pending",
            "submitting",
            "pending",
        ]
        assert table.counts()["pending"] == 2
        assert table.counts()["submitting"] == 1


def test_flush_writes_only_changed_rows(batch_dir: Path, table: StateTable) -> None:
    before = _segments(batch_dir)
    table.transition("row-000003", "submitting")
    table.update("row-000003", note="why")
    assert table.flush() == 1
    assert table.flush() == 0
    new = [p for p in _segments(batch_dir) if p not in before]
    assert len(new) == 1


def test_updated_at_and_writer_come_from_the_table(table: StateTable, clock: FakeClock) -> None:
    clock.advance(5)
    row = table.transition("row-000000", "submitting")
    assert row.updated_at.timestamp() == clock.now
    assert row.writer == "main"


async def test_group_commit_coalesces_callers(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=0.05) as table:
        table.add_pending(rows(50))
        before = len(_segments(batch_dir))

        async def change_and_commit(i: int) -> None:
            table.transition(f"row-{i:06d}", "submitting")
            await table.commit()

        await asyncio.gather(*(change_and_commit(i) for i in range(50)))
        assert len(_segments(batch_dir)) - before <= 2
        assert table.durable == table.changes
        assert (load(batch_dir)["status"] == "submitting").all()


async def test_commit_writes_at_once_at_the_row_threshold(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(
        batch_dir, batch_id="b1", clock=clock, checkpoint_interval=30.0, checkpoint_rows=5
    ) as table:
        table.add_pending(rows(5))
        for key, _, _ in rows(5):
            table.transition(key, "submitting")
        await asyncio.wait_for(table.commit(), timeout=5)
        assert table.pending_rows == 0


async def test_an_urgent_commit_does_not_wait_out_the_interval(batch_dir: Path, clock: FakeClock) -> None:
    # The fake clock never advances: only an urgent commit can write before the 30 s interval.
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=30.0) as table:
        table.add_pending(rows(2))
        table.transition("row-000000", "submitting")
        await asyncio.wait_for(table.commit(urgent=True), timeout=5)
        assert table.pending_rows == 0
        assert load(batch_dir).loc[0, "status"] == "submitting"


async def test_an_urgent_commit_wakes_a_leader_waiting_out_the_interval(
    batch_dir: Path, clock: FakeClock
) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=30.0) as table:
        table.add_pending(rows(2))
        table.transition("row-000000", "submitting")
        patient = asyncio.ensure_future(table.commit())
        await asyncio.sleep(0.01)
        assert not patient.done()  # the leader waits out the interval...
        table.transition("row-000001", "submitting")
        await asyncio.wait_for(table.commit(urgent=True), timeout=5)  # ...until an urgent caller comes
        await asyncio.wait_for(patient, timeout=5)
        assert table.pending_rows == 0
        assert (load(batch_dir)["status"] == "submitting").all()


async def test_maybe_commit_respects_the_interval(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=10.0) as table:
        table.add_pending(rows(3))
        table.transition("row-000000", "submitting")
        await table.maybe_commit()
        assert table.pending_rows == 1
        clock.advance(11)
        await table.maybe_commit()
        assert table.pending_rows == 0


async def test_cancelled_caller_does_not_cancel_the_write(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=0.05) as table:
        table.add_pending(rows(3))
        table.transition("row-000000", "submitting")
        waiter = asyncio.ensure_future(table.commit())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await table.commit()
        assert load(batch_dir).loc[0, "status"] == "submitting"


def test_close_is_idempotent_and_final(batch_dir: Path, clock: FakeClock) -> None:
    table = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    table.add_pending(rows(2))
    table.close()
    table.close()
    with pytest.raises(StateError, match="closed"):
        table.transition("row-000000", "submitting")


def test_batch_id_is_checked(batch_dir: Path, clock: FakeClock) -> None:
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    with pytest.raises(StateError, match="holds batch 'b1'"):
        StateTable.open(batch_dir, batch_id="other", clock=clock)
    with StateTable.open(batch_dir, clock=clock) as table:
        assert table.batch_id == "b1"


def test_batch_id_defaults_to_the_directory_name(tmp_path: Path, clock: FakeClock) -> None:
    with StateTable.open(tmp_path / "nightly", clock=clock) as table:
        assert table.batch_id == "nightly"


def test_reload_equals_memory(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(20))
        for i in range(0, 20, 2):
            table.transition(f"row-{i:06d}", "submitting")
            table.transition(f"row-{i:06d}", "completed", output_text=f"out {i}", input_tokens=i)
        table.flush()
        before = list(table.rows())
    with StateTable.open(batch_dir, clock=clock) as table:
        assert list(table.rows()) == before


def _codecs(paths: list[Path]) -> set[str]:
    return {pq.ParquetFile(p).metadata.row_group(0).column(0).compression for p in paths}


def test_segments_written_as_zstd_by_earlier_versions_read_beside_lz4_ones(
    batch_dir: Path, clock: FakeClock
) -> None:
    """Segments are lz4 (read and written faster) and snapshots zstd (`segments.SEGMENT_CODEC`); a table
    an earlier rowrelay left, every file zstd, resumes with its new segments beside the old."""
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(6))
        table.transition("row-000001", "submitting")
        table.transition("row-000001", "completed", output_text="first")
        table.flush()
        assert _codecs(_segments(batch_dir)) == {"LZ4"}
        for path in _segments(batch_dir):  # as rowrelay wrote them before
            pq.write_table(pq.read_table(path), path, compression="zstd")
        assert _codecs(_segments(batch_dir)) == {"ZSTD"}
        table.transition("row-000002", "submitting")
        table.transition("row-000002", "completed", output_text="second")
        table.flush()
        assert _codecs(_segments(batch_dir)) == {"ZSTD", "LZ4"}
        before = list(table.rows())
    assert _codecs(sorted((batch_dir / SNAPSHOTS).glob("*.parquet"))) == {"ZSTD"}  # close compacted
    with StateTable.open(batch_dir, clock=clock) as table:
        assert list(table.rows()) == before


def test_counts_of_counts_the_given_rows_by_status_in_the_base_and_changed_since(
    batch_dir: Path, clock: FakeClock
) -> None:
    with StateTable.open(batch_dir, batch_id="b", clock=clock) as table:
        table.add_pending(rows(6))
        table.transition("row-000000", "submitting", attempts=1)
        table.transition("row-000000", "failed", error_type="rejected")
    with StateTable.open(batch_dir, clock=clock) as table:  # row 0's failure is in the Arrow base now
        table.transition("row-000001", "submitting", attempts=1)  # a change since: in the overlay
        keys = ["row-000000", "row-000001", "row-000002", "row-000003", "nope"]
        assert table.counts_of(keys) == {"failed": 1, "submitting": 1, "pending": 2}
        assert table.counts_of([]) == {}
