"""A batch's newest files deleted are found too: each compaction records its snapshot as its writer's
high-water mark, and a mark no file answers is a gap. Before, deleting the newest snapshot left no gap
between the versions that remained, and the batch read as a smaller table (a finished one as empty)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rowrelay.tasks.errors import MissingVersionsError
from rowrelay.tasks.state import StateTable, check_state_files, load, summary
from rowrelay.tasks.state.damage import scan
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS, list_state_files
from rowrelay.tasks.state.high_water import HIGH_WATER, Mark, marks
from rowrelay.tasks.state.versions import accept
from tests.support.state import FakeClock, rows


def _finished(directory: Path, clock: FakeClock, n: int = 10, writer: str = "main", start: int = 0) -> Path:
    """`n` rows from `start` completed by `writer` and closed (compacted into one snapshot); returns the
    snapshot."""
    with StateTable.open(directory, batch_id="b1", clock=clock, writer=writer) as table:
        table.add_pending(rows(n, start=start))
        for key in list(table.keys_with_status(["pending"])):
            table.transition(key, "submitting")
            table.transition(key, "queued", response_id=f"resp-{key}")
            table.transition(key, "completed", output_text="done")
        table.flush()
    [snapshot] = [f.path for f in list_state_files(directory) if f.snapshot and f.writer == writer]
    return snapshot


def _refused_everywhere(directory: Path, clock: FakeClock) -> MissingVersionsError:
    for read in (load, summary, check_state_files):
        with pytest.raises(MissingVersionsError):
            read(directory)
    with pytest.raises(MissingVersionsError) as caught:
        StateTable.open(directory, clock=clock)  # what `run` resumes through
    return caught.value


def test_the_newest_snapshot_deleted_is_named_not_read_as_an_empty_batch(
    batch_dir: Path, clock: FakeClock
) -> None:
    snapshot = _finished(batch_dir, clock)
    assert marks(batch_dir) == {"main": Mark(version=int(snapshot.stem[-10:]), rows=10)}
    snapshot.unlink()
    assert not list_state_files(batch_dir)  # the snapshot was the batch's only file: no gap between files
    error = _refused_everywhere(batch_dir, clock)
    assert error.missing == ((1, int(snapshot.stem[-10:])),)
    assert f"{SNAPSHOTS}/{snapshot.name}, of 10 rows, the newest its writer recorded" in str(error)
    assert "\n" not in str(error)


def test_the_whole_table_deleted_is_named(batch_dir: Path, clock: FakeClock) -> None:
    _finished(batch_dir, clock)
    shutil.rmtree(batch_dir / SNAPSHOTS)
    shutil.rmtree(batch_dir / SEGMENTS)
    _refused_everywhere(batch_dir, clock)


def test_a_writers_snapshot_deleted_below_another_writers_is_named(batch_dir: Path, clock: FakeClock) -> None:
    first = _finished(batch_dir, clock, writer="shard-a")
    _finished(batch_dir, clock, writer="shard-b", start=10)  # its snapshot, above: the gaps' floor
    first.unlink()
    version = int(first.stem[-10:])
    assert _refused_everywhere(batch_dir, clock).missing == ((version, version),)


def test_an_accepted_loss_reads_again_and_the_next_writer_numbers_above_the_mark(
    batch_dir: Path, clock: FakeClock
) -> None:
    snapshot = _finished(batch_dir, clock)
    snapshot.unlink()
    accept(batch_dir, scan(batch_dir).missing)  # what `rowrelay repair` records
    assert len(load(batch_dir)) == 0
    lost = marks(batch_dir)["main"].version
    with StateTable.open(batch_dir, clock=clock) as table:
        table.add_pending(rows(3))
    assert min(f.version for f in list_state_files(batch_dir)) > lost  # never a lost number again
    assert marks(batch_dir)["main"].version > lost
    assert len(load(batch_dir)) == 3


def test_a_batch_of_an_older_release_with_no_mark_reads_as_before(batch_dir: Path, clock: FakeClock) -> None:
    _finished(batch_dir, clock)
    shutil.rmtree(batch_dir / HIGH_WATER)
    assert len(load(batch_dir)) == 10
    check_state_files(batch_dir)
    StateTable.open(batch_dir, clock=clock).close()
    (batch_dir / HIGH_WATER).mkdir()
    (batch_dir / HIGH_WATER / "main.json").write_text("not json")  # edited: ignored, not a refusal
    assert len(load(batch_dir)) == 10


def test_healthy_compactions_side_by_side_never_read_as_a_gap(batch_dir: Path, clock: FakeClock) -> None:
    _finished(batch_dir, clock, writer="shard-a")
    _finished(batch_dir, clock, writer="shard-b", start=10)
    for _ in range(3):  # each reopening compacts again: every mark moves up with its snapshot
        for writer in ("shard-a", "shard-b"):
            StateTable.open(batch_dir, clock=clock, writer=writer).close()
    assert len(load(batch_dir)) == 20
    check_state_files(batch_dir)
