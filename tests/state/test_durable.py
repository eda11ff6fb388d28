"""The shared atomic-write primitive: the old file or the new one, never half, and no temp file left."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from rowrelay.tasks.durable import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_path,
    create_exclusive,
    make_dirs_durable,
    temp_target,
    writable_problem,
)
from rowrelay.tasks.state import StateTable
from tests.support.state import FakeClock, rows


def test_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_failing_writer_keeps_the_old_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_bytes(b"old")
    seen: list[str] = []

    def half_then_fail(handle: BinaryIO) -> None:
        handle.write(b"ne")
        handle.flush()
        seen.extend(p.name for p in tmp_path.iterdir())
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    temp = next(name for name in seen if name != "run.json")  # it did write beside the target meanwhile
    assert temp.startswith(".run.json.")
    assert temp.endswith(".tmp")
    assert temp_target(temp) == "run.json"


def test_failing_first_write_leaves_nothing(tmp_path: Path) -> None:
    def interrupted(temp: Path) -> None:
        temp.write_bytes(b"PAR1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_path(tmp_path / "out.parquet", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_path_writer_output_is_moved_into_place(tmp_path: Path) -> None:
    def write(temp: Path) -> None:
        temp.write_text("a,b\n")

    atomic_write_path(tmp_path / "out.csv", write)
    assert (tmp_path / "out.csv").read_text() == "a,b\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_new_file_gets_the_mode_a_plain_open_gives(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a", b"x")
    (tmp_path / "b").write_bytes(b"x")
    assert (tmp_path / "a").stat().st_mode == (tmp_path / "b").stat().st_mode


def test_threads_writing_one_file_never_share_a_temp(tmp_path: Path) -> None:
    target = tmp_path / "lease.json"
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(50):
                atomic_write_bytes(target, str(n).encode() * 1000)
        except BaseException as exc:  # handed to the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    content = target.read_bytes()
    assert len(content) == 1000
    assert len(set(content)) == 1  # one writer's whole file, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["lease.json"]


def test_create_exclusive_creates_once(tmp_path: Path) -> None:
    target = tmp_path / "batch.json"
    assert create_exclusive(target, b"first")
    assert not create_exclusive(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["batch.json"]


@pytest.mark.parametrize(
    ("name", "final"),
    [
        (".main-0000000001.parquet.123.0a1b2c3d.tmp", "main-0000000001.parquet"),
        (".main-0000000001.parquet.123.12345678.tmp", "main-0000000001.parquet"),
        (".main-0000000001.parquet.12345.tmp", "main-0000000001.parquet"),  # earlier releases' names
        ("main-0000000001.parquet", None),
        (".hidden", None),
        ("x.tmp", None),
    ],
)
def test_temp_target(name: str, final: str | None) -> None:
    assert temp_target(name) == final


def test_temp_names_carry_the_pid(tmp_path: Path) -> None:
    seen: list[str] = []
    atomic_write(tmp_path / "f", lambda handle: seen.extend(p.name for p in tmp_path.iterdir()))
    assert seen[0].startswith(f".f.{os.getpid()}.")


def _recording_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Make `os.fsync` record which directory each fsynced descriptor is (then really fsync it)."""
    synced: list[Path] = []
    real = os.fsync

    def record(fd: int) -> None:
        synced.append(Path(f"/proc/self/fd/{fd}").readlink())
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return synced


def test_make_dirs_durable_creates_nested_dirs_and_fsyncs_each_new_ones_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = _recording_fsyncs(monkeypatch)
    tmp_path = tmp_path.resolve()  # as /proc names the descriptors
    target = tmp_path / "a" / "b" / "c"
    created = make_dirs_durable(target)
    assert target.is_dir()
    assert created == [tmp_path / "a", tmp_path / "a" / "b", target]
    assert synced == [tmp_path, tmp_path / "a", tmp_path / "a" / "b"]


def test_make_dirs_durable_on_an_existing_dir_creates_and_syncs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = _recording_fsyncs(monkeypatch)
    assert make_dirs_durable(tmp_path) == []
    assert synced == []


def test_make_dirs_durable_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="not a directory"):
        make_dirs_durable(tmp_path / "file" / "sub")
    assert (tmp_path / "file").read_bytes() == b"x"


def test_a_new_state_table_fsyncs_every_folder_it_creates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = _recording_fsyncs(monkeypatch)
    tmp_path = tmp_path.resolve()  # as /proc names the descriptors
    directory = tmp_path / "new" / "batch"
    with StateTable.open(directory, batch_id="b1", clock=FakeClock()) as table:
        table.add_pending(rows(3))
    for folder in (directory, directory / "segments", directory / "leases", directory / "snapshots"):
        assert folder.is_dir()
        assert folder.parent in synced, folder
    assert tmp_path in synced  # `new`, the missing parent, too


def test_writable_problem_probes_without_leaving_anything(tmp_path: Path) -> None:
    assert writable_problem(tmp_path / "not" / "yet") is None
    assert list(tmp_path.iterdir()) == []  # nothing created, not even the probe
    (tmp_path / "file").write_bytes(b"x")
    assert writable_problem(tmp_path / "file" / "sub") == f"{tmp_path / 'file'} is not a directory"
    assert (
        writable_problem(Path("/proc/rowrelay-nope")) == "cannot write in /proc (No such file or directory)"
    )
