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
from tests.support.damage import DAMAGES, two_segments
from tests.support.state import FakeClock

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
    for read in (load, summary, results_frame_of):
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
