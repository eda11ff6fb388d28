"""Damaged files are detected and named, never silently dropped; temp leftovers are ignored and cleaned."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.errors import CorruptSegmentError, StateError
from rowrelay.tasks.state import StateTable, load, summary
from rowrelay.tasks.state.files import SEGMENTS
from tests.support.state import FakeClock, rows


def _two_segments(directory: Path, clock: FakeClock) -> Path:
    """A batch with rows in one segment and a change in a second; returns the second segment."""
    table = StateTable.open(directory, batch_id="b1", clock=clock)
    table.add_pending(rows(5))
    table.transition("row-000002", "submitting")
    table.flush()
    table.lease.release()  # leave the segments uncompacted, as a crash would
    return sorted((directory / SEGMENTS).glob("*.parquet"))[-1]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not parquet at all" * 10)


@pytest.mark.parametrize("damage", [_truncate, _garbage])
def test_open_raises_naming_the_file(batch_dir: Path, clock: FakeClock, damage: object) -> None:
    bad = _two_segments(batch_dir, clock)
    damage(bad)  # type: ignore[operator]
    with pytest.raises(CorruptSegmentError) as caught:
        StateTable.open(batch_dir, clock=clock)
    assert bad.name in str(caught.value)
    assert caught.value.path == str(bad)
    assert isinstance(caught.value, StateError)
    # the refused open left the lease free
    assert not (batch_dir / "leases" / "main.json").exists()


@pytest.mark.parametrize("damage", [_truncate, _garbage])
def test_skip_is_explicit_and_reported(batch_dir: Path, clock: FakeClock, damage: object) -> None:
    bad = _two_segments(batch_dir, clock)
    damage(bad)  # type: ignore[operator]
    with StateTable.open(batch_dir, clock=clock, on_corrupt="skip") as table:
        assert len(table) == 5
        assert table.get("row-000002").status == "pending"  # the skipped change is gone: reported below
        assert len(table.problems) == 1
        assert bad.name in table.problems[0]
        # a new segment never reuses the damaged file's name
        table.transition("row-000001", "submitting")
        table.flush()
    assert bad.exists()  # evidence is kept, even by the compaction at close


@pytest.mark.parametrize("damage", [_truncate, _garbage])
def test_readers_report_without_crashing(
    batch_dir: Path, clock: FakeClock, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    bad = _two_segments(batch_dir, clock)
    damage(bad)  # type: ignore[operator]
    frame = load(batch_dir)
    assert len(frame) == 5
    assert any(bad.name in p for p in frame.attrs["problems"])
    report = summary(batch_dir)
    assert any(bad.name in p for p in report["problems"])
    assert bad.name in caplog.text


def test_temp_leftovers_are_ignored_and_cleaned(batch_dir: Path, clock: FakeClock) -> None:
    _two_segments(batch_dir, clock)
    own = batch_dir / SEGMENTS / ".main-0000000099.parquet.12345.tmp"
    other = batch_dir / SEGMENTS / ".shard-1-0000000099.parquet.12345.tmp"
    for temp in (own, other):
        temp.write_bytes(b"half a file")
    assert len(load(batch_dir)) == 5
    assert load(batch_dir).attrs["problems"] == []
    with StateTable.open(batch_dir, clock=clock) as table:
        assert table.problems == []
        assert not own.exists()
        assert other.exists()  # another writer's temp may be a live write: not ours to delete
