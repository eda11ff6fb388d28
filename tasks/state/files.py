"""File layout of a batch directory and the atomic-write primitives everything durable goes through.

    DIR/batch.json                                batch id, creation time, schema version
    DIR/leases/<writer>.json                      who runs this writer's shard (host, pid, since, heartbeat)
    DIR/segments/<writer>-<version:010d>.parquet  one checkpoint: only the rows that changed
    DIR/snapshots/<writer>-<version:010d>.parquet one writer's rows folded at compaction

A durable file is written as `.<name>.<pid>.tmp` in its final directory, fsynced, `os.replace`d over its
final name, and the directory is fsynced: a reader sees the old file or the new one, never half of one.
Temp names start with a dot and end in `.tmp`, so neither readers nor `*.parquet` globs ever match them;
a writer removes its own leftovers (only its own: another live writer may be mid-write).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SEGMENTS = "segments"
SNAPSHOTS = "snapshots"
LEASES = "leases"
BATCH_FILE = "batch.json"

_NAME = re.compile(r"^(?P<writer>[A-Za-z0-9_.=+-]+?)-(?P<version>\d{10,})\.parquet$")
_TEMP = re.compile(r"^\.(?P<final>.+)\.\d+\.tmp$")
WRITER_NAME = re.compile(r"^[A-Za-z0-9_=+-][A-Za-z0-9_.=+-]*$")


@dataclass(frozen=True, slots=True)
class StateFile:
    """One segment or snapshot, identified by its path, writer and version (parsed from its name)."""

    path: Path
    writer: str
    version: int
    snapshot: bool


def data_file_name(writer: str, version: int) -> str:
    return f"{writer}-{version:010d}.parquet"


def list_state_files(directory: Path) -> list[StateFile]:
    """Every segment and snapshot of the batch, in version order; temp files and strays are ignored."""
    found: list[StateFile] = []
    for sub, snapshot in ((SEGMENTS, False), (SNAPSHOTS, True)):
        folder = directory / sub
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            match = _NAME.match(entry.name)
            if match is not None:
                found.append(
                    StateFile(Path(entry.path), match["writer"], int(match["version"]), snapshot=snapshot)
                )
    found.sort(key=lambda f: (f.version, f.snapshot, f.writer))
    return found


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def atomic_write(final: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write `final` through a fsynced temp file in the same directory, then rename and fsync the dir."""
    tmp = temp_path(final)
    try:
        with tmp.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def atomic_write_bytes(final: Path, data: bytes) -> None:
    def write(handle: BinaryIO) -> None:
        handle.write(data)

    atomic_write(final, write)


def create_exclusive(final: Path, data: bytes) -> bool:
    """Atomically create `final` with `data` unless it exists (temp file + hard link); True if created."""
    tmp = temp_path(final)
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, final)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(final.parent)
    return True


def remove_own_temps(directory: Path, writer: str) -> list[Path]:
    """Delete temp files a crashed holder of `writer` left behind; returns what was removed."""
    removed: list[Path] = []
    for sub in (SEGMENTS, SNAPSHOTS):
        folder = directory / sub
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            match = _TEMP.match(entry.name)
            final = match and _NAME.match(match["final"])
            if final and final["writer"] == writer:
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed


def version_in_name(path: Path) -> int:
    """The version in a state file's name (`<writer>-<version>.parquet`), 0 if it has none."""
    digits = path.stem.rpartition("-")[2]
    return int(digits) if digits.isdigit() else 0
