"""A state file damaged inside (a bit flipped on disk, a file rewritten) fails its read naming it, never
reads back as other values: each page has a checksum, the footer's row count is checked against the
count the file was written with, and each row is checked to be one rowrelay writes. Files written before
checksums still read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.errors import CorruptSegmentError
from rowrelay.tasks.state import StateTable, load
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS
from rowrelay.tasks.state.schema import ROWS_KEY, SCHEMA, SCHEMA_VERSION_KEY
from rowrelay.tasks.state.segments import read_state_file
from tests.support.state import FakeClock, rows


def _busy_segment(directory: Path, clock: FakeClock) -> Path:
    """A segment of 12 rows in every kind of state, with text, ids and counts; left as a crash leaves it."""
    table = StateTable.open(directory, batch_id="b1", clock=clock)
    table.add_pending(rows(12))
    for i in range(12):
        key = f"row-{i:06d}"
        table.transition(key, "submitting")
        table.transition(key, "queued" if i % 3 else "in_progress", response_id=f"resp_{i:030d}")
        if i % 2:
            table.transition(key, "completed", output_text=f"answer {i} " * 4, input_tokens=10 + i,
                             output_tokens=20 + i)  # fmt: skip
    table.flush()
    table.lease.release()
    return sorted((directory / SEGMENTS).glob("*.parquet"))[-1]


@pytest.mark.slow
def test_no_flipped_bit_reads_back_as_other_values(batch_dir: Path, clock: FakeClock) -> None:
    """Before, 1,836 of a 12 KB segment's 11,995 single-bit flips read back changed without an error: a
    status `hn_progress`, a null response id on an in-progress row, 101,058,054 orphans, other text."""
    segment = _busy_segment(batch_dir, clock)
    data = segment.read_bytes()
    good = read_state_file(segment)
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    # One bit of every third byte of the pages, and bit 4 of every byte of the footer, which no page
    # checksum covers (there a flip of a row group's count read back as fewer rows, one of a timestamp's
    # unit as times in 1970).
    flips = [(at, at % 8) for at in range(0, footer, 3)] + [(at, 4) for at in range(footer, len(data))]
    silent = []
    for at, bit in flips:
        flipped = bytearray(data)
        flipped[at] ^= 1 << bit
        segment.write_bytes(bytes(flipped))
        try:
            read = read_state_file(segment)
        except CorruptSegmentError:
            continue
        if not read.equals(good):
            silent.append((at, bit))
    assert silent == []


def test_a_flipped_page_is_named_by_every_reader(batch_dir: Path, clock: FakeClock) -> None:
    segment = _busy_segment(batch_dir, clock)
    ids = pq.ParquetFile(segment).metadata.row_group(0).column(SCHEMA.get_field_index("response_id"))
    data = bytearray(segment.read_bytes())
    data[ids.data_page_offset + ids.total_compressed_size - 3] ^= 1  # in the ids' page, one bit off
    segment.write_bytes(bytes(data))
    for read in (load, lambda d: StateTable.open(d, clock=clock)):
        with pytest.raises(CorruptSegmentError) as caught:
            read(batch_dir)
        assert caught.value.path == str(segment)
        assert "torn, corrupt or of the wrong schema (" in str(caught.value)


def test_files_written_without_checksums_or_a_row_count_still_read(batch_dir: Path, clock: FakeClock) -> None:
    segment = _busy_segment(batch_dir, clock)
    expected = load(batch_dir)
    table = pq.ParquetFile(segment).read()
    old = {SCHEMA_VERSION_KEY: table.schema.metadata[SCHEMA_VERSION_KEY]}  # as releases before wrote it
    pq.write_table(table.replace_schema_metadata(old), segment, compression="lz4", use_dictionary=False)
    assert ROWS_KEY not in (pq.read_schema(segment).metadata or {})
    assert load(batch_dir).equals(expected)
    with StateTable.open(batch_dir, clock=clock) as reopened:
        assert reopened.problems == [] or all("took over" in p for p in reopened.problems)


def _set(name: str, value: object) -> Callable[[pa.Table], pa.Table]:
    """Change one column of the file's first row."""

    def change(table: pa.Table) -> pa.Table:
        column = table.column(name).to_pylist()
        column[0] = value
        return table.set_column(
            table.schema.get_field_index(name), name, pa.array(column, SCHEMA.field(name).type)
        )

    return change


def _queued_without_id(table: pa.Table) -> pa.Table:
    queued = pc.index(table.column("status"), "queued").as_py()
    ids = table.column("response_id").to_pylist()
    ids[queued] = None
    return table.set_column(
        table.schema.get_field_index("response_id"), "response_id", pa.array(ids, pa.string())
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_set("status", "hn_progress"), "a row of status 'hn_progress', which is none of rowrelay's"),
        (_queued_without_id, "a queued row without a response id"),
        (_set("orphans", -3), "a row whose orphans is negative (-3)"),
        (_set("input_tokens", -1), "a row whose input_tokens is negative (-1)"),
        (_set("version", 1), "a row of version 1 in a segment of version 2"),
        (_set("writer", "shard-9"), "a row of writer 'shard-9' in a file of writer 'main'"),
    ],
    ids=["status", "queued-without-id", "orphans", "tokens", "version", "writer"],
)
def test_a_row_rowrelay_never_writes_is_refused_naming_the_file(
    batch_dir: Path, clock: FakeClock, change: Callable[[pa.Table], pa.Table], said: str
) -> None:
    """What a file rewritten whole (or written before checksums, then damaged) can hold."""
    segment = _busy_segment(batch_dir, clock)
    table = pq.ParquetFile(segment).read()
    pq.write_table(change(table), segment)  # its metadata (schema version, row count) kept
    with pytest.raises(CorruptSegmentError) as caught:
        load(batch_dir)
    assert str(caught.value) == f"{segment}: holds {said}: not as rowrelay wrote it (damaged or edited)"


def test_a_row_count_that_disagrees_with_the_rows_is_refused(batch_dir: Path, clock: FakeClock) -> None:
    segment = _busy_segment(batch_dir, clock)
    table = pq.ParquetFile(segment).read()
    pq.write_table(table.slice(0, 5), segment)  # five rows left, its metadata saying twelve
    with pytest.raises(CorruptSegmentError) as caught:
        load(batch_dir)
    assert str(caught.value) == f"{segment}: 5 rows read where its footer counts 5, its writer 12"


def test_a_snapshot_holds_older_versions_of_its_rows(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(3))
        table.transition("row-000000", "submitting")
        table.flush()
    [snapshot] = (batch_dir / SNAPSHOTS).glob("*.parquet")
    versions = set(read_state_file(snapshot).column("version").to_pylist())
    assert len(versions) > 1  # rows keep their own versions there, lower than the snapshot's: not damage
