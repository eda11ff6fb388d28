"""Damaged files are detected and named, never silently dropped (by readers neither, unless asked to skip);
temp leftovers are ignored and cleaned."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.errors import CorruptSegmentError, StateError
from rowrelay.tasks.state import StateTable, load, results_frame_of, summary
from rowrelay.tasks.state.files import SEGMENTS
from rowrelay.tasks.state.schema import SCHEMA_VERSION_KEY
from tests.support.damage import DAMAGES, garbage, truncate, two_segments
from tests.support.state import FakeClock, rows

Damage = Callable[[Path], None]


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_open_raises_naming_the_file(batch_dir: Path, clock: FakeClock, damage: Damage) -> None:
    bad = two_segments(batch_dir, clock)
    damage(bad)
    with pytest.raises(CorruptSegmentError) as caught:
        StateTable.open(batch_dir, clock=clock)
    assert str(caught.value).startswith(f"{bad}: ")
    assert caught.value.path == str(bad)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, StateError)
    # the refused open left the lease free
    assert not (batch_dir / "leases" / "main.json").exists()


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_skip_is_explicit_and_reported(batch_dir: Path, clock: FakeClock, damage: Damage) -> None:
    bad = two_segments(batch_dir, clock)
    damage(bad)
    with StateTable.open(batch_dir, clock=clock, on_corrupt="skip") as table:
        assert len(table) == 5
        assert table.get("row-000002").status == "pending"  # the skipped change is gone: reported below
        assert len(table.problems) == 1
        assert bad.name in table.problems[0]
        # a new segment never reuses the damaged file's name
        table.transition("row-000001", "submitting")
        table.flush()
    assert bad.exists()  # evidence is kept, even by the compaction at close


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_readers_refuse_a_damaged_table_naming_the_file(
    batch_dir: Path, clock: FakeClock, damage: Damage
) -> None:
    bad = two_segments(batch_dir, clock)
    damage(bad)
    for read in (load, summary, lambda directory: results_frame_of(directory, [])):
        with pytest.raises(CorruptSegmentError) as caught:
            read(batch_dir)
        assert caught.value.path == str(bad), read


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_readers_skip_only_when_asked_and_say_so(
    batch_dir: Path, clock: FakeClock, damage: Damage, caplog: pytest.LogCaptureFixture
) -> None:
    bad = two_segments(batch_dir, clock)
    damage(bad)
    frame = load(batch_dir, skip_damaged=True)
    assert len(frame) == 5
    assert frame.set_index("row_key").loc["row-000002", "status"] == "pending"  # the lost change
    assert [bad.name in p for p in frame.attrs["problems"]] == [True]
    report = summary(batch_dir, skip_damaged=True)
    assert [bad.name in p for p in report["problems"]] == [True]
    assert bad.name in caplog.text


def test_a_newer_schema_is_refused_as_such_not_as_damage(batch_dir: Path, clock: FakeClock) -> None:
    bad = two_segments(batch_dir, clock)
    table = pq.read_table(bad)
    pq.write_table(table.replace_schema_metadata({SCHEMA_VERSION_KEY: b"99"}), bad)
    with pytest.raises(StateError, match="newer than this rowrelay") as caught:
        load(batch_dir)
    assert not isinstance(caught.value, CorruptSegmentError)


def test_temp_leftovers_are_ignored_and_cleaned(batch_dir: Path, clock: FakeClock) -> None:
    two_segments(batch_dir, clock)
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


def test_among_many_files_the_first_damaged_is_named_and_a_skip_names_each(
    batch_dir: Path, clock: FakeClock
) -> None:
    """Files are read several at once: which file an open names, and what a skip keeps, must not
    depend on which reader finished first."""
    table = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    table.add_pending(rows(12))
    for n in range(12):
        table.transition(f"row-{n:06d}", "submitting")
        table.flush()  # one segment per row's change
    table.lease.release()
    segments = sorted((batch_dir / SEGMENTS).glob("*.parquet"))
    assert len(segments) == 13
    first, second = segments[4], segments[9]  # rows 3 and 8's changes
    truncate(second)
    garbage(first)
    for _ in range(3):
        with pytest.raises(CorruptSegmentError) as caught:
            StateTable.open(batch_dir, clock=clock)
        assert caught.value.path == str(first)
    frame = load(batch_dir, skip_damaged=True).set_index("row_key")
    assert (frame["status"] == "pending").sum() == 2  # only the damaged files' changes are missing
    assert frame.loc[["row-000003", "row-000008"], "status"].tolist() == ["pending", "pending"]
    problems = frame.attrs["problems"]
    assert [p.startswith(f"{path}: ") for p, path in zip(problems, (first, second), strict=True)] == [
        True
    ] * 2
