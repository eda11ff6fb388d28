"""Durable, atomic file writes: the one primitive every file rowrelay must not lose or tear goes through.

A file is written as `.<name>.<pid>.<token>.tmp` in its final directory, flushed and fsynced, moved over
its final name with `os.replace`, and the directory is fsynced so the rename itself survives a power cut:
a reader sees the old file or the new one, never half of one. Temp names start with a dot and end in
`.tmp`, so neither readers nor `*.parquet`/`*.json` globs ever match them; the pid and random token keep
two writers of the same file (processes or threads) off each other's temp file. A failed write removes
its temp file and leaves the final file as it was. A new directory is no different: its entry lives in
its parent, so `make_dirs_durable` fsyncs the parent of each directory it creates.

This module sits in the bottom layer, beside the errors: it imports only the standard library (and its
sibling `processes`), so the state table, the dataset writer and the entry points can all share it.

    atomic_write_bytes(Path("run.json"), b"{}")
    atomic_write(Path("out.parquet"), lambda handle: pq.write_table(table, handle))
    atomic_write_path(Path("out.csv"), lambda temp: frame.to_csv(temp))   # writers that want a path
    make_dirs_durable(Path("state/b1/segments"))                           # mkdir -p, each entry fsynced
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from rowrelay.tasks.processes import pid_alive

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_path",
    "create_exclusive",
    "fsync_dir",
    "make_dirs_durable",
    "remove_stale_temps",
    "temp_target",
    "writable_problem",
]

_TEMP = re.compile(r"^\.(?:(?P<final>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}|(?P<old>.+)\.\d+)\.tmp$")
"""A temp file's name: `.<final>.<pid>.<token>.tmp`, or `.<final>.<pid>.tmp` (earlier releases)."""


def temp_target(name: str) -> str | None:
    """The final file name a temp file named `name` was to become, or None if it is not a temp file."""
    match = _TEMP.match(name)
    if match is None:
        return None
    return match["final"] or match["old"]


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable (skipped on Windows, which cannot open directories)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs_durable(directory: Path) -> list[Path]:
    """Create `directory` and its missing parents (as `mkdir -p`), fsyncing the parent of each one created,
    so a file later made durable inside cannot vanish with a directory whose own entry was never synced.

    Returns the directories created, outermost first. An existing directory costs one `stat`; a path that
    exists but is not a directory is a `FileExistsError`, as with `Path.mkdir(exist_ok=True)`.
    """
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        if current.exists():
            raise FileExistsError(f"{current} exists and is not a directory")
        missing.append(current)
        current = current.parent
    for new in reversed(missing):
        try:
            new.mkdir()
        except FileExistsError:
            if not new.is_dir():
                raise
        # Synced even when a concurrent creator won the mkdir: it may not have synced the entry yet.
        fsync_dir(new.parent)
    return missing[::-1]


def writable_problem(directory: Path) -> str | None:
    """Why files could not be written in `directory` (made first with its missing parents, as
    `make_dirs_durable` does), or None if they can: checked before a run, so it fails before starting.

    The nearest existing folder is probed with an anonymous temp file, gone once closed: permission bits
    alone say nothing for root, a read-only mount or a pseudo-filesystem such as /proc.
    """
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        return f"cannot write in {existing} ({exc.strerror or exc})"
    return None


def _create_temp(final: Path) -> tuple[Path, int]:
    """A new, empty temp file beside `final` (never an existing one), as (path, write-only fd)."""
    temp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return temp, os.open(temp, flags, 0o666)  # 0o666 less the umask: the mode a plain open() gives


@contextmanager
def _removed_on_failure(temp: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write(final: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write `final` by calling `write` on a binary handle to a fsynced temp file, then rename and fsync.

    If `write` (or anything after it) fails, the temp file is removed and `final` is left as it was.
    """
    temp, fd = _create_temp(final)
    with _removed_on_failure(temp):
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(final)
    fsync_dir(final.parent)


def atomic_write_path(final: Path, write: Callable[[Path], None]) -> None:
    """As `atomic_write`, for writers that open the file themselves: `write` gets the temp file's path.

    The temp file exists (empty) when `write` is called; `write` may overwrite it but must not remove it.
    The outputs are written this way, into a user's folder no state table sweeps: the temp files of
    `final` that a killed writer left there go first (`remove_stale_temps`), before they take room a full
    disk needs.
    """
    remove_stale_temps(final)
    temp, fd = _create_temp(final)
    os.close(fd)
    with _removed_on_failure(temp):
        write(temp)
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        temp.replace(final)
    fsync_dir(final.parent)


def remove_stale_temps(final: Path) -> list[Path]:
    """Delete the temp files of `final` whose writer is gone; returns what was removed.

    A writer killed mid-write (`kill -9` during a run's export) leaves `.<name>.<pid>.<token>.tmp` beside
    the file for ever: a 56 KB one outlived later runs that wrote the same output. Only `final`'s are
    touched, known by this module's own name pattern (never the older `.<name>.<pid>.tmp`, too plain
    a name to be sure of), and only when no process with that pid runs on this host, so a temp file
    another live process is writing now (two runs exporting the same output) is never removed; a pid
    reused since by another process keeps its file, which is safe. A folder shared with another host is
    the one case a live writer's file may go: its rename then fails, and its run says it could not write
    the output (its rows are kept), never a torn file. One that cannot be listed or removed is left."""
    prefix = f".{final.name}."
    try:
        names = [entry.name for entry in os.scandir(final.parent) if entry.name.startswith(prefix)]
    except OSError:  # no folder yet, or one this user may not list: the write says what is wrong
        return []
    removed: list[Path] = []
    for name in names:
        match = _TEMP.match(name)
        if match is None or match["final"] != final.name or pid_alive(int(match["pid"])):
            continue
        stale = final.with_name(name)
        try:
            stale.unlink()
        except OSError:  # gone meanwhile, or not ours to remove: left as it is
            continue
        removed.append(stale)
    return removed


def atomic_write_bytes(final: Path, data: bytes) -> None:
    """Write `data` to `final` atomically and durably."""

    def write(handle: BinaryIO) -> None:
        handle.write(data)

    atomic_write(final, write)


def create_exclusive(final: Path, data: bytes) -> bool:
    """Atomically create `final` with `data` unless it exists (temp file + hard link); True if created.

    The hard link fails if `final` exists, so of several racing creators exactly one wins, and the winner's
    file is complete the moment it appears.
    """
    temp, fd = _create_temp(final)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, final)
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(final.parent)
    return True
