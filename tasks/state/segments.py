"""Reading and writing state files, and folding many versions of a row into the latest.

Every segment and snapshot holds whole rows with a `version`: the writer's checkpoint number, strictly
increasing per writer and started above every version in the directory when the writer opens, so a later
checkpoint of a row always carries a higher version than an earlier one, whoever wrote it. "Latest" is
therefore max(`version`) per `row_key`; two records with the same key and version are copies of one
checkpoint (a snapshot and a segment it covers, both present after a crash mid-compaction) and are equal.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rowrelay.tasks.durable import atomic_write
from rowrelay.tasks.errors import CorruptSegmentError, DamagedFileError, StateError
from rowrelay.tasks.records import one_line
from rowrelay.tasks.state.batch import read_batch
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS, StateFile, named, reading, writing
from rowrelay.tasks.state.invariants import row_problem
from rowrelay.tasks.state.migrations import migrate, retyped
from rowrelay.tasks.state.schema import ROWS_KEY, SCHEMA_VERSION_KEY, empty_table
from rowrelay.tasks.state.versions import missing_error, whole_listing
from rowrelay.tasks.state_folder_errors import StateAccessError

_THREADED_ROWS = 100_000
_READERS = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
"""Files read at once: one per core this process may use. Arrow releases the GIL while it reads and
decodes, and a resume reads hundreds of small segments: on the 2-core VM, a crashed 1M-row table's 321
files took a median 1.22 s one at a time, 0.77 s two at a time, 0.87 s four at a time (5 alternated
runs); on one core, threads only add switching."""

_VANISHED_WAIT = 0.005
"""Seconds before listing again after a listed file vanished, doubled at each of up to 8 tries (0.6 s in
all): a compaction deletes the files it covers one by one, and a reader that listed again at once met the
same pass of deletes five times over and gave up (1-2 times in 8 s of reading beside a writer compacting
every 0.3 s, whose 65 deletes took up to 120 ms on the 2-core VM)."""

Codec = Literal["lz4", "zstd"]
SEGMENT_CODEC: Codec = "lz4"
SNAPSHOT_CODEC: Codec = "zstd"
"""Segments are written at every group commit and live until their writer's next compaction; snapshots
are few and kept. The 321 segments of a crashed 1M-row table (610,000 row versions; tests/benchmarks/
bench_scale.py) as zstd: 21.5 MB, written in 1.49 s, read in 0.91 s one at a time; as lz4: 38.5 MB,
0.92 s, 0.63 s (uncompressed: 90.6 MB, 0.87 s, 0.53 s; snappy no better than lz4). A resume reads them
all, and a run writes them on its state thread, whose CPU the requests' event loop shares."""


def write_state_file(path: Path, table: pa.Table, *, snapshot: bool = False) -> None:
    """Write `table` (already `SCHEMA`) durably and atomically to `path`, as a segment or a snapshot."""
    codec: Codec = SNAPSHOT_CODEC if snapshot else SEGMENT_CODEC

    def write(handle: BinaryIO) -> None:
        # No dictionary pages: keys and hashes are unique, and the codec already shrinks the
        # repetitive columns; without them a segment writes and reads ~20% faster, and is no bigger.
        # A CRC32 per page, verified on read: a bit flipped in a data page read back as another value
        # (a status, a null response id, 101,058,054 orphans) in 1,836 of a 12 KB segment's 11,995 flips.
        counted = {**(table.schema.metadata or {}), ROWS_KEY: str(table.num_rows).encode()}
        pq.write_table(
            table.replace_schema_metadata(counted), handle, compression=codec, use_dictionary=False,
            write_page_checksum=True,
        )  # fmt: skip

    with writing(path):
        atomic_write(path, write)


def read_state_file(path: Path) -> pa.Table:
    """One state file as a current-`SCHEMA` table; `CorruptSegmentError` naming it if it is not readable.

    `FileNotFoundError` passes through: the file was removed by a compaction after it was listed.
    """
    with _named_if_damaged(path):
        with pq.ParquetFile(path, page_checksum_verification=True) as parquet:  # pages without one pass
            version = _schema_version(parquet, path)
            # Threads pay off on a snapshot's columns; on a small segment starting them costs more than
            # the read (a resume reads hundreds: measured 2x slower with them).
            table = parquet.read(use_threads=parquet.metadata.num_rows >= _THREADED_ROWS)
            _check_count(parquet, table, path)
        if (wrong := retyped(table, version)) is not None:
            raise CorruptSegmentError(str(path), f"torn, corrupt or of the wrong schema ({wrong})")
        table = migrate(table, version, str(path))
    writer, number = named(path) or (None, None)
    problem = row_problem(table, writer, number, snapshot=path.parent.name == SNAPSHOTS)
    if problem is not None:
        raise CorruptSegmentError(str(path), f"holds {problem}: not as rowrelay wrote it (damaged or edited)")
    return table


def check_state_files(directory: Path) -> None:
    """`CorruptSegmentError` for the first state file of the batch a resume would find damaged from its
    footer alone: torn, not Parquet, not ours; `MissingVersionsError` first if a file is missing (`versions`).
    Reads footers only (321 files, as many as a crashed 1M-row table holds: 0.12-0.23 s on the 2-core VM
    beside a test run), so a run refuses such a table before it starts anything; damage inside a file's
    pages still shows when the run reads it."""
    read_batch(directory)  # damaged: `DamagedFileError` naming it, before anything starts either
    files, missing = whole_listing(directory)
    if missing:
        raise missing_error(directory, missing)
    for state_file in files:
        path = state_file.path
        with contextlib.suppress(FileNotFoundError), _named_if_damaged(path), pq.ParquetFile(path) as parquet:
            _schema_version(parquet, path)


def _check_count(parquet: pq.ParquetFile, table: pa.Table, path: Path) -> None:
    """The rows read must be as many as the footer's count of the file's, and the count the file was
    written with (`ROWS_KEY`; files written before it have none): a row group's own count, flipped,
    reads back as fewer rows without an error."""
    raw = (parquet.schema_arrow.metadata or {}).get(ROWS_KEY)
    written, counted = (None if raw is None else int(raw)), parquet.metadata.num_rows
    if counted != table.num_rows or written not in (None, table.num_rows):
        said = f"its footer counts {counted:,}" + ("" if written is None else f", its writer {written:,}")
        raise CorruptSegmentError(str(path), f"{table.num_rows:,} rows read where {said}")


def _schema_version(parquet: pq.ParquetFile, path: Path) -> int:
    """The file's schema version, from its footer, which must also say it is one of ours and, for a
    segment, that it holds rows: a checkpoint writes one only for rows that changed, so an empty segment is
    one rewritten or replaced since (its rows' latest versions lost), not one rowrelay wrote."""
    raw = (parquet.schema_arrow.metadata or {}).get(SCHEMA_VERSION_KEY)
    if raw is None:
        raise CorruptSegmentError(str(path), "not a rowrelay state file (no schema version)")
    if parquet.metadata.num_rows == 0 and path.parent.name == SEGMENTS:
        raise CorruptSegmentError(str(path), "a segment holding no rows (a checkpoint never writes one)")
    return int(raw)


@contextlib.contextmanager
def _named_if_damaged(path: Path) -> Iterator[None]:
    """What Arrow or the file system raise about a damaged file, as `CorruptSegmentError` naming it."""
    try:
        with reading(path):
            yield
    except (FileNotFoundError, CorruptSegmentError, StateAccessError):
        raise
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        raise CorruptSegmentError(
            str(path), f"torn, corrupt or of the wrong schema ({one_line(str(exc))})"
        ) from exc


def by_version(tables: Iterable[pa.Table]) -> pa.Table:
    """All versions of all rows in one table, in ascending `version` order (stable)."""
    parts = [t for t in tables if t.num_rows]
    if not parts:
        return empty_table()
    return _sorted_by(pa.concat_tables(parts), "version")


def _sorted_by(table: pa.Table, column: str) -> pa.Table:
    """`table` in ascending order of `column`, stably; as it is when already in order (the usual case).

    In Arrow compute alone: converting to or from NumPy or Python values makes pyarrow import pandas,
    which a reader (`rowrelay status`) would pay for on every start (tests/flows/test_cli_imports.py).
    """
    values = table.column(column)
    n = table.num_rows
    if n > 1 and not pc.all(pc.greater_equal(values.slice(1), values.slice(0, n - 1))).as_py():
        table = table.take(pc.sort_indices(values))  # Arrow's sort is stable
    return table


def latest(tables: Iterable[pa.Table]) -> pa.Table:
    """The latest version of each row across `tables`, sorted by `row_index`."""
    table = by_version(tables)
    keys = table.column("row_key")
    if pc.count_distinct(keys).as_py() != table.num_rows:
        order = pc.sort_indices(table, sort_keys=[("row_key", "ascending"), ("version", "descending")])
        table = table.take(order)
        sorted_keys = table.column("row_key")
        first = pc.not_equal(sorted_keys.slice(1), sorted_keys.slice(0, table.num_rows - 1))
        table = pa.concat_tables([table.slice(0, 1), table.slice(1).filter(first)])
    return _sorted_by(table, "row_index")


def read_latest(
    directory: Path, *, skip_corrupt: bool, dedupe: bool = True, attempts: int = 8
) -> tuple[pa.Table, list[StateFile], list[DamagedFileError]]:
    """Read every state file: (latest rows, files read, damage skipped, each as its error).

    With `dedupe=False` the table holds every version, by ascending version (the caller folds them).
    A corrupt file raises `CorruptSegmentError`, and versions no file holds `MissingVersionsError` (first),
    unless `skip_corrupt`, which returns them with the files read and goes on (the caller says so: a
    warning, a report). If a listed file vanished (a concurrent compaction folded it into a snapshot), list
    again.
    """
    for attempt in range(attempts):
        files, missing = whole_listing(directory)
        tables: list[pa.Table] = []
        damaged: list[DamagedFileError] = []
        if missing:
            if not skip_corrupt:
                raise missing_error(directory, missing)
            damaged.append(missing_error(directory, missing))
        try:
            outcomes = _read_each([f.path for f in files])
        except FileNotFoundError:
            time.sleep(_VANISHED_WAIT * 2**attempt)
            continue
        for outcome in outcomes:
            if isinstance(outcome, pa.Table):
                tables.append(outcome)
            elif skip_corrupt:
                damaged.append(outcome)
            else:
                raise outcome
        folded = latest(tables) if dedupe else by_version(tables)
        skipped = {Path(exc.path) for exc in damaged}
        return folded, [f for f in files if f.path not in skipped], damaged
    raise StateError(f"{directory}: state files kept vanishing while reading (compactions?); try again")


def _read_each(paths: list[Path]) -> list[pa.Table | CorruptSegmentError]:
    """Each file as a table, or as the error naming it if damaged, in the order given (`_READERS` at once).

    `FileNotFoundError` passes through: the file was removed by a compaction after it was listed.
    """

    def read(path: Path) -> pa.Table | CorruptSegmentError:
        try:
            return read_state_file(path)
        except CorruptSegmentError as exc:
            return exc

    if len(paths) < 2 or _READERS < 2:
        return [read(path) for path in paths]
    with ThreadPoolExecutor(_READERS, thread_name_prefix="rowrelay-read") as pool:
        return list(pool.map(read, paths))
