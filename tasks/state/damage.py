"""A batch's damaged files: finding them, reading what can still be read of them, moving them aside.

A damaged file is a segment or snapshot that does not read as a rowrelay state file (torn, truncated,
empty, garbage, foreign, of the wrong schema), or a `run.json` or `batch.json` that does not parse.
`rowrelay repair` moves each into `damaged/` under its folder, with a `.damaged` suffix (so neither the
state table nor a `**/*.parquet` glob ever reads it again), and never deletes one: it is the evidence of
what happened. A batch.json moved aside, or lost, is written again (`rebuild_batch`): it holds nothing a
row's state depends on.

What a damaged Parquet file held is usually lost with its footer, but a file whose footer survived (a
wrong column type, say) may still give up its row keys and statuses: `salvage` reads those few columns
when it can, so a repair can say exactly which rows lose their latest version.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rowrelay.tasks.durable import fsync_dir, make_dirs_durable
from rowrelay.tasks.errors import DamagedFileError, MissingVersionsError
from rowrelay.tasks.records import ROW_STATUSES
from rowrelay.tasks.state.batch import read_batch, rebuilt_batch, write_batch
from rowrelay.tasks.state.files import BATCH_FILE, DAMAGED
from rowrelay.tasks.state.repair import Version
from rowrelay.tasks.state.resent import resent_keys
from rowrelay.tasks.state.run_record import read_run_record
from rowrelay.tasks.state.schema import SCHEMA, SCHEMA_VERSION_KEY
from rowrelay.tasks.state.segments import read_latest
from rowrelay.tasks.state.versions import Gap

__all__ = [
    "DamagedFile",
    "Scan",
    "move_aside",
    "older_than",
    "rebuild_batch",
    "remaining_versions",
    "salvage",
    "scan",
]

_SALVAGED = ("row_key", "row_index", "status", "response_id", "version")
"""The columns a repair needs of a lost row version (`repair.Version`)."""


@dataclass(frozen=True, slots=True)
class DamagedFile:
    """One damaged file: where it is, why it is damaged, and the row versions it still gives up (None:
    its rows cannot be read, or it holds none, as `run.json`)."""

    path: Path
    reason: str
    rows: list[Version] | None


@dataclass(frozen=True, slots=True)
class Scan:
    """A batch as a repair finds it: the latest version of each row in the readable files, and the rest:
    damaged files, and versions no file holds (`missing`, as `versions` finds them)."""

    remaining: pa.Table
    damaged: list[DamagedFile]
    run_record_readable: bool
    missing: list[Gap] = field(default_factory=list)
    batch_missing: bool = False
    """No batch.json, though the folder holds a table (a damaged one is among `damaged`)."""
    resent: frozenset[str] | None = frozenset()
    """Keys the batch sent again for an edited input (`resent.resent_keys`; None: any may have been)."""

    @property
    def batch_lost(self) -> bool:
        """batch.json is missing or damaged: a repair writes it again (`rebuild_batch`)."""
        return self.batch_missing or any(d.path.name == BATCH_FILE for d in self.damaged)


def scan(directory: Path) -> Scan:
    """Read every state file of the batch at `directory`, setting damaged ones (and `run.json`) apart.

    A file from a newer rowrelay is not damage, nor one this user may not read: their `StateError` passes
    through (upgrade, or read as its owner, instead).
    """
    damaged_batch: list[DamagedFile] = []
    try:
        batch_missing = read_batch(directory) is None  # one this user may not read is no damage: it passes
    except DamagedFileError as exc:
        batch_missing, damaged_batch = False, [DamagedFile(Path(exc.path), exc.reason, None)]
    remaining, _files, skipped = read_latest(directory, skip_corrupt=True)
    missing = [gap for exc in skipped if isinstance(exc, MissingVersionsError) for gap in exc.missing]
    damaged = [
        DamagedFile(Path(exc.path), exc.reason, salvage(Path(exc.path)))
        for exc in skipped
        if not isinstance(exc, MissingVersionsError)
    ] + damaged_batch
    resent = resent_keys(directory)
    try:
        read_run_record(directory)
    except DamagedFileError as exc:
        damaged.append(DamagedFile(Path(exc.path), exc.reason, None))
        return Scan(remaining, damaged, False, missing, batch_missing, resent)
    return Scan(remaining, damaged, True, missing, batch_missing, resent)


def rebuild_batch(directory: Path, found: Scan, moved: Path | None) -> tuple[dict[str, Any], str]:
    """Write batch.json again for a batch whose one is lost or was moved aside (`moved`: where it went),
    from what that one still says, else the folder's name and the table's earliest row; returns the record
    and where its id came from."""
    first: Any = pc.min(found.remaining.column("updated_at")).as_py() if found.remaining.num_rows else None
    record, source = rebuilt_batch(directory, moved.read_bytes() if moved is not None else b"", first)
    write_batch(directory, record)
    return record, source


def older_than(found: Scan, version: int) -> list[Version]:
    """The remaining rows whose newest readable version is older than `version`: rows a lost file at
    `version` may have held a later version of. A `completed` row only if the batch resent it for an
    edited input (`found.resent`): no other run writes a completed row again, and a repair of a
    million-row table that listed them all would bury the few that matter. In Arrow."""
    table = found.remaining
    older = pc.less(table.column("version"), pa.scalar(version, pa.int64()))
    rewritable = pc.not_equal(table.column("status"), pa.scalar("completed"))
    if found.resent is None:  # the note cannot be read: any completed row may have been resent
        rewritable = pa.array([True] * table.num_rows, pa.bool_())
    elif found.resent:
        resent = pc.is_in(table.column("row_key"), value_set=pa.array(sorted(found.resent), pa.string()))
        rewritable = pc.or_(rewritable, resent)
    return _versions(table.filter(pc.and_(older, rewritable)))


def _versions(table: pa.Table) -> list[Version]:
    """Each row of `table` (holding the `_SALVAGED` columns) as a `Version`."""
    return [
        Version(*values) for values in zip(*(table.column(n).to_pylist() for n in _SALVAGED), strict=True)
    ]


def salvage(path: Path) -> list[Version] | None:
    """The row versions a damaged state file still gives up, or None if they cannot be trusted.

    Only a file that says it is ours (the schema version in its metadata) and whose key columns read with
    their own types and valid statuses counts: anything less would be guessing at which rows it held.
    """
    try:
        parquet = pq.ParquetFile(path, page_checksum_verification=True)
        if SCHEMA_VERSION_KEY not in (parquet.schema_arrow.metadata or {}):
            return None
        wanted = pa.schema([SCHEMA.field(name) for name in _SALVAGED])
        table = parquet.read(columns=list(_SALVAGED)).select(list(_SALVAGED)).cast(wanted)
    except (pa.ArrowException, OSError, ValueError, KeyError):
        return None
    statuses = table.column("status")
    if not table.num_rows:  # emptied: what it held is gone, not "no rows"
        return None
    if statuses.null_count or not pc.all(pc.is_in(statuses, pa.array(ROW_STATUSES))).as_py():
        return None
    return _versions(table)


def move_aside(directory: Path, paths: list[Path]) -> list[Path]:
    """Move each damaged file of the batch into `damaged/<its folder>/<name>.damaged` (never over an
    earlier one: `.damaged-2`, `-3`, ... then), durably; returns where each went."""
    moved: list[Path] = []
    for path in paths:
        folder = directory / DAMAGED / path.parent.relative_to(directory)
        make_dirs_durable(folder)
        target = folder / f"{path.name}.damaged"
        number = 1
        while target.exists():
            number += 1
            target = folder / f"{path.name}.damaged-{number}"
        path.rename(target)
        fsync_dir(folder)
        fsync_dir(path.parent)
        moved.append(target)
    return moved


class _Remaining(Mapping[str, Version]):
    """The latest version of each remaining row, by key, made a `Version` only when asked for: a repair
    looks up a few rows of a table that may hold a million."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        keys: list[str] = table.column("row_key").to_pylist()  # type: ignore[assignment]
        self._position = {key: i for i, key in enumerate(keys)}

    def __getitem__(self, key: str) -> Version:
        i = self._position[key]
        return Version(*(self._table.column(name)[i].as_py() for name in _SALVAGED))

    def __iter__(self) -> Iterator[str]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)

    def __contains__(self, key: object) -> bool:
        return key in self._position


def remaining_versions(found: Scan) -> Mapping[str, Version]:
    """`found.remaining` as `repair.fallbacks` takes it."""
    return _Remaining(found.remaining)
