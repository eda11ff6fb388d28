"""A run's end compacts only when it is worth it (`compaction.worth_compacting`): a scheduled job working a
big batch a few rows a run rewrote the whole table at every run's end (a 200,000-row batch run with
`--limit 20` every 5 minutes wrote 33 GB a month). Its segments stay until they hold 5% of the
snapshot's rows (or pass `COMPACT_SEGMENTS`), the table reads the same meanwhile, and losing them is
still found: the run's end records its last segment beside its writer's snapshot in the mark."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.errors import MissingVersionsError
from rowrelay.tasks.state import COMPACT_SEGMENTS, StateTable, check_state_files, load, summary
from rowrelay.tasks.state.compaction import COMPACT_SHARE
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS, list_state_files
from rowrelay.tasks.state.high_water import marks
from tests.support.state import FakeClock, rows

ROWS = 4_000
LIMIT = 5
STEPS = ("submitting", "queued", "completed")
"""A run of `--limit 5`: each step of its rows one checkpoint, as its commits write them."""


def _finished(directory: Path, clock: FakeClock) -> Path:
    """A 4,000-row batch whose first run planned every row and completed the first 100; its snapshot."""
    with StateTable.open(directory, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(ROWS))
        _steps(table, table.keys_with_status(["pending"])[:100])
    [snapshot] = (directory / SNAPSHOTS).glob("*.parquet")
    return snapshot


def _steps(table: StateTable, keys: list[str]) -> None:
    for step in STEPS:
        for key in keys:
            fields = {"response_id": f"resp-{key}"} if step == "queued" else {}
            table.transition(key, step, **fields)  # type: ignore[arg-type]
        table.flush()


def _small_run(directory: Path, clock: FakeClock) -> pd.DataFrame:
    """One run of `--limit 5` to its end (closed); returns the table it held, as `load` reads one."""
    clock.now += 300
    with StateTable.open(directory, clock=clock) as table:
        _steps(table, table.keys_with_status(["pending"])[:LIMIT])
        return table.latest().to_pandas()


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def test_small_runs_leave_the_snapshot_untouched_until_their_segments_pass_a_share_of_it(
    batch_dir: Path, clock: FakeClock
) -> None:
    snapshot = _finished(batch_dir, clock)
    stamp = _stamp(snapshot)
    versions_a_run = LIMIT * len(STEPS)
    untouched = int(COMPACT_SHARE * ROWS) // versions_a_run  # runs whose segments stay within the share
    assert untouched >= 10
    assert untouched * len(STEPS) <= COMPACT_SEGMENTS
    for run in range(1, untouched + 1):
        held = _small_run(batch_dir, clock)
        assert _stamp(snapshot) == stamp, f"run {run} rewrote the snapshot"
        assert list((batch_dir / SNAPSHOTS).glob("*.parquet")) == [snapshot]
        assert len(list((batch_dir / SEGMENTS).glob("*.parquet"))) == run * len(STEPS)
        pd.testing.assert_frame_equal(load(batch_dir), held)  # the table reads as the run left it
    assert summary(batch_dir)["counts"]["completed"] == 100 + untouched * LIMIT

    held = _small_run(batch_dir, clock)  # its segments pass the share: its end compacts
    assert not snapshot.exists()
    assert list((batch_dir / SEGMENTS).glob("*.parquet")) == []
    [compacted] = (batch_dir / SNAPSHOTS).glob("*.parquet")
    pd.testing.assert_frame_equal(load(batch_dir), held)
    assert marks(batch_dir)["main"].version == int(compacted.stem[-10:])
    assert marks(batch_dir)["main"].last is None


def test_a_run_that_changed_a_share_of_the_rows_compacts_at_its_end(
    batch_dir: Path, clock: FakeClock
) -> None:
    snapshot = _finished(batch_dir, clock)
    with StateTable.open(batch_dir, clock=clock) as table:
        _steps(table, table.keys_with_status(["pending"])[: int(COMPACT_SHARE * ROWS)])
    assert not snapshot.exists()
    assert list((batch_dir / SEGMENTS).glob("*.parquet")) == []


def test_a_run_ends_segments_lost_are_found_by_every_reader(batch_dir: Path, clock: FakeClock) -> None:
    """A finished run's last files deleted were found before because they were its snapshot, which the
    mark names; the segments a run's end now leaves are named by it too."""
    snapshot = _finished(batch_dir, clock)
    _small_run(batch_dir, clock)
    segments = sorted((batch_dir / SEGMENTS).glob("*.parquet"))
    mark = marks(batch_dir)["main"]
    assert (mark.version, mark.last) == (int(snapshot.stem[-10:]), int(segments[-1].stem[-10:]))
    check_state_files(batch_dir)

    saved = batch_dir.parent / "saved"
    shutil.copytree(batch_dir / SEGMENTS, saved)
    shutil.rmtree(batch_dir / SEGMENTS)  # every segment the run left: no file above them remains
    for read in (load, summary, check_state_files, lambda d: StateTable.open(d, clock=clock)):
        with pytest.raises(MissingVersionsError) as caught:
            read(batch_dir)
    first, last = int(segments[0].stem[-10:]), int(segments[-1].stem[-10:])
    assert caught.value.missing == ((first, last),)
    assert f"{SEGMENTS}/{segments[-1].name}, the last segment its writer wrote at a run's end" in str(
        caught.value
    )

    shutil.copytree(saved, batch_dir / SEGMENTS, dirs_exist_ok=True)
    snapshot.unlink()  # the snapshot under the segments: named as before
    with pytest.raises(MissingVersionsError) as caught:
        load(batch_dir)
    assert f"{SNAPSHOTS}/{snapshot.name}, of {ROWS:,} rows, the newest its writer recorded" in str(
        caught.value
    )


def test_a_writers_snapshot_lost_below_another_writers_is_still_named_after_a_run_that_kept_it(
    batch_dir: Path, clock: FakeClock
) -> None:
    """The mark a run's end records keeps the writer's snapshot: a snapshot under another writer's floor is
    found by the mark alone."""
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, writer="shard-a") as table:
        table.add_pending(rows(ROWS))
    [first] = (batch_dir / SNAPSHOTS).glob("shard-a-*.parquet")
    with StateTable.open(batch_dir, clock=clock, writer="shard-a") as table:
        _steps(table, table.keys_with_status(["pending"])[:LIMIT])  # a small run: no compaction
    with StateTable.open(batch_dir, clock=clock, writer="shard-b") as table:
        table.add_pending(rows(10, start=ROWS))  # its snapshot, above shard-a's: the gaps' floor
    assert first.exists()
    first.unlink()
    version = int(first.stem[-10:])
    with pytest.raises(MissingVersionsError) as caught:
        load(batch_dir)
    assert caught.value.missing == ((version, version),)


def test_a_writer_with_no_snapshot_yet_compacts_at_its_end(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(ROWS))
        _steps(table, table.keys_with_status(["pending"])[:LIMIT])
    assert [f.snapshot for f in list_state_files(batch_dir)] == [True]


def test_many_small_runs_keep_the_file_count_bounded(batch_dir: Path, clock: FakeClock) -> None:
    """Runs too small to pass the share still compact once their segments pass `COMPACT_SEGMENTS`: a
    scheduled job's table never holds more than that many segments beside its snapshot."""
    _finished(batch_dir, clock)
    snapshots: set[str] = set()
    for _ in range(3 * COMPACT_SEGMENTS // len(STEPS)):  # three times the count's worth of segments
        held = _small_run(batch_dir, clock)
        files = list_state_files(batch_dir)
        assert len(files) <= COMPACT_SEGMENTS + 1
        snapshots.update(f.path.name for f in files if f.snapshot)
    assert len(snapshots) >= 3  # compacted on the way, by the count
    pd.testing.assert_frame_equal(load(batch_dir), held)
