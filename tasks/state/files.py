"""File layout of a batch directory: the names of everything in it, and how to list them.

    DIR/batch.json                                batch id, creation time, schema version
    DIR/run.json                                  what the last run was asked to do (never a key)
    DIR/prices.json                               the prices run.json kept, as the price file a run
                                                  given none prices with (`run_record.kept_price_file`)
    DIR/input-order.arrow                         the last run's input's keys, if reordered (`input_order`)
    DIR/leases/<writer>.json                      who runs this writer's shard (host, pid, since, heartbeat)
    DIR/segments/<writer>-<version:010d>.parquet  one checkpoint: only the rows that changed
    DIR/snapshots/<writer>-<version:010d>.parquet one writer's rows folded at compaction
    DIR/damaged/<folder>/<name>.damaged           a damaged file `rowrelay repair` moved aside (kept as
                                                  evidence; the suffix keeps `**/*.parquet` globs off it)
    DIR/high-water/<writer>.json                  the writer's last snapshot: version, rows (`high_water`)

Every file here is written through `rowrelay.tasks.durable` (temp file beside it, fsync, rename, fsync of
the directory): a reader sees the old file or the new one, never half of one. Every folder here is created
through it too (`make_dirs_durable`: the parent is fsynced after each mkdir), so a durable file never sits
in a folder whose own entry a power cut could lose. Temp names start with a dot
and end in `.tmp`, so neither readers nor `*.parquet` globs ever match them; a writer removes its own
leftovers (only its own: another live writer may be mid-write).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rowrelay.tasks.durable import temp_target
from rowrelay.tasks.state_folder_errors import StateAccessError, StateWriteError

SEGMENTS = "segments"
SNAPSHOTS = "snapshots"
LEASES = "leases"
DAMAGED = "damaged"
MAIN_WRITER = "main"
"""The writer `rowrelay run`, `retry`, `cancel` and `repair` hold the batch as (shards may add others)."""
BATCH_FILE = "batch.json"
RUN_FILE = "run.json"
PRICES_FILE = "prices.json"

_NAME = re.compile(r"^(?P<writer>[A-Za-z0-9_.=+-]+?)-(?P<version>\d{10,})\.parquet$")
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
        for entry in entries(folder):
            match = _NAME.match(entry.name)
            if match is not None:
                found.append(
                    StateFile(Path(entry.path), match["writer"], int(match["version"]), snapshot=snapshot)
                )
    found.sort(key=lambda f: (f.version, f.snapshot, f.writer))
    return found


def remove_own_temps(directory: Path, writer: str) -> list[Path]:
    """Delete temp files a crashed holder of `writer` left behind; returns what was removed."""
    removed: list[Path] = []
    for sub in (SEGMENTS, SNAPSHOTS):
        folder = directory / sub
        if not folder.is_dir():
            continue
        for entry in entries(folder):
            target = temp_target(entry.name)
            final = target and _NAME.match(target)
            if final and final["writer"] == writer:
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed


def named(path: Path) -> tuple[str, int] | None:
    """(writer, version) from a state file's name, or None if it is not named as one."""
    match = _NAME.match(path.name)
    return None if match is None else (match["writer"], int(match["version"]))


def entries(folder: Path) -> list[os.DirEntry[str]]:
    """What a folder of the batch holds; `StateAccessError` naming it if this user may not list it."""
    with reading(folder):
        return list(os.scandir(folder))


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """A read of `path` in the batch folder: one refused for lack of permission is `StateAccessError`
    naming it, never damage (the file may be whole: a repair would have moved it aside, its rows' latest
    versions with it)."""
    try:
        yield
    except PermissionError as exc:
        raise StateAccessError(str(path), "permission denied") from exc


def version_in_name(path: Path) -> int:
    """The version in a state file's name (`<writer>-<version>.parquet`), 0 if it has none."""
    digits = path.stem.rpartition("-")[2]
    return int(digits) if digits.isdigit() else 0


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """A write of `path` into the batch folder (a segment, a snapshot, a lease, `run.json`): an OSError
    there (ENOSPC, EROFS, EIO, the folder gone) is the run's `StateWriteError`, not the row's in hand."""
    try:
        yield
    except OSError as exc:
        raise StateWriteError(str(path), exc.strerror or str(exc)) from exc
