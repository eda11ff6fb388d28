"""Compaction folds a writer's own segments into a snapshot without changing what readers see."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from rowrelay.tasks.state import COMPACT_SEGMENTS, StateTable, load
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS
from tests.support.state import FakeClock, rows


def _work(table: StateTable, n_flushes: int, n_rows: int | None = None) -> None:
    """Move rows `row-000000...` one step each, one flush per step."""
    for i in range(n_flushes):
        key = f"row-{i % (n_rows or len(table)):06d}"
        status = table.get(key).status
        if status == "pending":
            table.transition(key, "submitting")
        elif status == "submitting":
            table.transition(key, "queued", response_id=f"resp-{i}")
        elif status == "queued":
            table.transition(key, "completed", output_text=f"text {i}", input_tokens=i)
        table.flush()


def _files(directory: Path, sub: str) -> list[Path]:
    return sorted((directory / sub).glob("*.parquet"))


def test_close_compacts_and_preserves_data(batch_dir: Path, clock: FakeClock) -> None:
    table = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    table.add_pending(rows(20))
    _work(table, 50)  # every row queued or completed: nothing to recover as an orphan on reopen
    before = load(batch_dir)
    memory = list(table.rows())
    table.close()
    assert _files(batch_dir, SEGMENTS) == []
    assert len(_files(batch_dir, SNAPSHOTS)) == 1
    pd.testing.assert_frame_equal(load(batch_dir), before)
    with StateTable.open(batch_dir, clock=clock) as again:
        assert list(again.rows()) == memory


def test_crash_mid_compaction_loads_the_same(batch_dir: Path, clock: FakeClock, tmp_path: Path) -> None:
    table = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    table.add_pending(rows(10))
    _work(table, 25)  # no row left submitting, so reopening changes nothing but the files
    table.lease.release()
    saved = tmp_path / "segments-before"
    shutil.copytree(batch_dir / SEGMENTS, saved)
    expected = load(batch_dir)
    StateTable.open(batch_dir, clock=clock).close()  # compacts
    # put the covered segments back: the state right after the snapshot was written, before the deletes
    for path in saved.glob("*.parquet"):
        shutil.copy(path, batch_dir / SEGMENTS / path.name)
    assert _files(batch_dir, SNAPSHOTS)
    assert _files(batch_dir, SEGMENTS)
    got = load(batch_dir)
    pd.testing.assert_frame_equal(got, expected)
    with StateTable.open(batch_dir, clock=clock) as again:
        assert again.problems == []
        assert len(again) == 10


def test_segments_pile_up_then_compact(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(100))
        _work(table, COMPACT_SEGMENTS + 5)
        assert len(_files(batch_dir, SEGMENTS)) <= COMPACT_SEGMENTS
        assert len(_files(batch_dir, SNAPSHOTS)) == 1
        memory = list(table.rows())
        assert len(table._store.overlay) < 100  # the overlay was folded back into the base
        assert list(table.rows()) == memory
        assert len(load(batch_dir)) == 100


def test_compaction_never_touches_another_writers_segments(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", writer="shard-1", clock=clock) as other:
        other.add_pending([("theirs", 99, "h")])
        other.transition("theirs", "submitting")
        other.flush()
        theirs = set(_files(batch_dir, SEGMENTS))
        with StateTable.open(batch_dir, writer="shard-0", clock=clock) as mine:
            mine.add_pending(rows(5))
            _work(mine, 8, n_rows=5)
        assert theirs <= set(_files(batch_dir, SEGMENTS))
        assert load(batch_dir).set_index("row_key").loc["theirs", "status"] == "submitting"


def test_a_compaction_folds_in_each_rows_last_change(batch_dir: Path, clock: FakeClock) -> None:
    """The base a compaction installs comes from the checkpoints already written (Arrow, not the rows in
    memory): a row written by many of them must come out at its last."""
    table = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    table.add_pending(rows(7))
    keys = [row.row_key for row in table.rows()]
    for key in keys:
        table.transition(key, "submitting")
        table.transition(key, "queued", response_id=f"resp-{key}", sequence_number=0)
    last: dict[str, int] = {}
    for i in range(1, 2 * COMPACT_SEGMENTS):  # a compaction on the way, and one at close
        for key in keys[: 1 + i % len(keys)]:  # the first row in every checkpoint, the last in a few
            table.update(key, sequence_number=i)
            last[key] = i
        table.flush()
    assert len(_files(batch_dir, SNAPSHOTS)) == 1
    table.close()
    assert table._store.overlay == {}  # every row read below comes from the merged base
    assert {key: table.get(key).sequence_number for key in keys} == last
    assert dict(zip(*(load(batch_dir)[c] for c in ("row_key", "sequence_number")), strict=True)) == last
