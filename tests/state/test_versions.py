"""A missing snapshot or segment is a gap in the table's versions, found whenever the table is opened or
read, and never one in a healthy table: after a compaction, a crash between a snapshot and its deletes, a
failed write, writers side by side, or a reader racing a writer that compacts."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from rowrelay.tasks.errors import MissingVersionsError, StateError
from rowrelay.tasks.state import StateTable, check_state_files, load, summary
from rowrelay.tasks.state import checkpoint as checkpoint_module
from rowrelay.tasks.state import versions as versions_module
from rowrelay.tasks.state.damage import scan
from rowrelay.tasks.state.files import DAMAGED, SEGMENTS, SNAPSHOTS, list_state_files
from rowrelay.tasks.state.segments import write_state_file
from rowrelay.tasks.state.versions import accept
from rowrelay.tasks.state_folder_errors import StateWriteError
from tests.support.damage import compacted_then_crashed
from tests.support.state import FakeClock, rows

ROOT = Path(__file__).resolve().parents[2]


def _refused_everywhere(directory: Path, clock: FakeClock) -> MissingVersionsError:
    """Every way of opening or reading the table raises the same one-line error; returns it."""
    errors = []
    for read in (load, summary, check_state_files, lambda d: StateTable.open(d, clock=clock)):
        with pytest.raises(MissingVersionsError) as caught:
            read(directory)
        errors.append(caught.value)
    assert len({str(e) for e in errors}) == 1
    assert "\n" not in str(errors[0])
    assert isinstance(errors[0], StateError)
    assert not (directory / "leases" / "main.json").exists()  # the refused open left the lease free
    return errors[0]


def test_a_deleted_snapshot_is_named_not_read_as_a_smaller_table(batch_dir: Path, clock: FakeClock) -> None:
    snapshot, _ = compacted_then_crashed(batch_dir, clock)
    snapshot.unlink()
    error = _refused_everywhere(batch_dir, clock)
    assert error.missing == ((1, 65),)
    assert error.path == str(batch_dir)
    assert str(error).startswith(f"{batch_dir}: no state file holds versions 1-65 of the table (")


@pytest.mark.parametrize("which", [0, 2])
def test_a_deleted_segment_is_named(batch_dir: Path, clock: FakeClock, which: int) -> None:
    _, segments = compacted_then_crashed(batch_dir, clock)
    segments[which].unlink()
    version = 66 + which
    assert _refused_everywhere(batch_dir, clock).missing == ((version, version),)


def test_readers_asked_to_skip_name_the_gap_and_a_writer_over_it_never_compacts_it_away(
    batch_dir: Path, clock: FakeClock
) -> None:
    snapshot, _ = compacted_then_crashed(batch_dir, clock)
    snapshot.unlink()
    frame = load(batch_dir, skip_damaged=True)
    assert ["versions 1-65" in p for p in frame.attrs["problems"]] == [True]
    with StateTable.open(batch_dir, clock=clock, on_corrupt="skip") as table:
        assert ["versions 1-65" in p for p in table.problems] == [True]
        table.add_pending(rows(1, start=10))
    assert not list((batch_dir / SNAPSHOTS).glob("*.parquet"))  # its snapshot would have hidden the gap
    with pytest.raises(MissingVersionsError):
        load(batch_dir)


def test_a_gap_accepted_by_a_repair_reads_again(batch_dir: Path, clock: FakeClock) -> None:
    snapshot, segments = compacted_then_crashed(batch_dir, clock)
    snapshot.unlink()
    segments[1].unlink()
    assert scan(batch_dir).missing == [(1, 65), (67, 67)]
    accept(batch_dir, scan(batch_dir).missing)
    assert sorted(p.name for p in (batch_dir / DAMAGED / "missing").iterdir()) == [
        "versions-0000000001-0000000065.missing",
        "versions-0000000067-0000000067.missing",
    ]
    assert len(load(batch_dir)) == 5  # the rows only the lost files held are absent, as accepted
    with StateTable.open(batch_dir, clock=clock) as table:
        assert table.problems == [] or all("took over" in p for p in table.problems)


def test_a_file_repair_moved_aside_is_no_gap(batch_dir: Path, clock: FakeClock) -> None:
    snapshot, segments = compacted_then_crashed(batch_dir, clock)
    for path in (snapshot, segments[1]):
        aside = batch_dir / DAMAGED / path.parent.name / f"{path.name}.damaged"
        aside.parent.mkdir(parents=True, exist_ok=True)
        path.rename(aside)
    assert len(load(batch_dir)) <= 10  # read, not refused: the snapshot set aside still covered 1-64


# --- healthy tables: never a gap ------------------------------------------------------------------


def test_a_crash_between_a_snapshot_and_its_deletes_is_no_gap(
    batch_dir: Path, clock: FakeClock, tmp_path: Path
) -> None:
    _, _ = compacted_then_crashed(batch_dir, clock)
    saved = tmp_path / "saved"
    shutil.copytree(batch_dir, saved)
    expected = load(batch_dir)
    StateTable.open(batch_dir, clock=clock).close()  # compacts every file into one snapshot
    [snapshot] = list((batch_dir / SNAPSHOTS).glob("*.parquet"))
    assert not list((batch_dir / SEGMENTS).glob("*.parquet"))
    old = sorted((saved / SEGMENTS).glob("*.parquet")) + sorted((saved / SNAPSHOTS).glob("*.parquet"))
    for kept in range(len(old) + 1):  # the crash came after `kept` of the covered files were deleted
        for path in old[kept:]:
            shutil.copy(path, batch_dir / path.parent.name / path.name)
        pd.testing.assert_frame_equal(load(batch_dir), expected)
        check_state_files(batch_dir)
        for path in old:
            (batch_dir / path.parent.name / path.name).unlink(missing_ok=True)
    assert snapshot.exists()


def test_a_failed_write_leaves_no_gap_behind_the_next_one(
    batch_dir: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (a full disk, a lost lease) took a version: written later, the next one left a
    number no file holds, which the table then took for a deleted file."""
    table = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    table.add_pending(rows(3))
    real = write_state_file
    failures = iter([OSError(28, "No space left on device")])

    def full_once(path: Path, written: pa.Table, *, snapshot: bool = False) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise StateWriteError(str(path), str(failure))
        real(path, written, snapshot=snapshot)

    monkeypatch.setattr(checkpoint_module, "write_state_file", full_once)
    table.transition("row-000000", "submitting")
    with pytest.raises(StateWriteError):
        table.flush()
    table.transition("row-000001", "submitting")
    table.flush()  # the disk has room again
    table.lease.release()  # a crash: the segments stay as written
    names = sorted(p.name for p in (batch_dir / SEGMENTS).glob("*.parquet"))
    assert names == ["main-0000000001.parquet", "main-0000000002.parquet"]
    frame = load(batch_dir).set_index("row_key")
    assert list(frame["status"][:2]) == ["submitting", "submitting"]


def test_writers_side_by_side_compacting_leave_no_gap(batch_dir: Path, clock: FakeClock) -> None:
    theirs = StateTable.open(batch_dir, batch_id="b1", writer="shard-1", clock=clock)
    theirs.add_pending([("theirs", 99, "h")])
    with StateTable.open(batch_dir, writer="shard-0", clock=clock) as mine:
        mine.add_pending(rows(5))
        for i in range(80):  # a compaction on the way, and one at close
            mine.update(f"row-{i % 5:06d}", sequence_number=i)
            mine.flush()
            if i % 20 == 0:
                theirs.update("theirs", sequence_number=i)
                theirs.flush()
                check_state_files(batch_dir)
    theirs.update("theirs", sequence_number=1000)
    theirs.flush()
    check_state_files(batch_dir)
    theirs.close()
    frame = load(batch_dir).set_index("row_key")
    assert frame.loc["theirs", "sequence_number"] == 1000
    assert len(frame) == 6


@pytest.mark.slow
def test_a_reader_racing_a_writer_that_compacts_never_sees_a_gap(tmp_path: Path) -> None:
    """A listing made while files are renamed in and deleted can miss a new file and see a later one, or
    miss a compaction's new snapshot while its old one is gone: only a gap two listings show counts."""
    directory = tmp_path / "churn"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.state.workers", "churn", str(directory), "50", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # Until the writer has compacted twice or more (its snapshot past version 130), reading all along:
        # eight seconds of wall clock were too few for it on a loaded machine. The deadline only ends a hang.
        deadline, reads = time.monotonic() + 180, 0
        while reads <= 20 or _snapshot_version(directory) <= 130:
            assert time.monotonic() < deadline, (reads, _snapshot_version(directory))
            assert len(load(directory)) == 50
            reads += 1
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)


def _snapshot_version(directory: Path) -> int:
    """The version of the batch's one snapshot (0 before the first), read between renames."""
    versions = [int(path.stem.rpartition("-")[2]) for path in (directory / SNAPSHOTS).glob("*.parquet")]
    return max(versions, default=0)


def test_a_listing_that_raced_a_rename_is_listed_again(
    batch_dir: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """readdir may miss an entry renamed in while it runs and return one renamed in after it: a gap seen
    in one listing only is such a race, not a deleted file."""
    _, segments = compacted_then_crashed(batch_dir, clock)
    real = list_state_files
    listings = iter([[f for f in real(batch_dir) if f.path != segments[2]]])
    monkeypatch.setattr(versions_module, "list_state_files", lambda d: next(listings, None) or real(d))
    assert len(load(batch_dir)) == 10
    listings = iter([[f for f in real(batch_dir) if f.path != segments[2]]] * 2)
    with pytest.raises(MissingVersionsError):  # seen twice: a gap
        load(batch_dir)
