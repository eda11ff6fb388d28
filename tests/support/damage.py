"""Ways a state file gets damaged, and a small batch to damage: for the corruption, repair and CLI tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.state import COMPACT_SEGMENTS, RunRecord, StateTable, write_run_record
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS
from rowrelay.tasks.state.schema import SCHEMA_VERSION_KEY
from tests.support.state import FakeClock, rows
from tests.support.tickets import TEMPLATE, write_tickets


def truncate(path: Path) -> None:
    """Half the file: the footer, and so the schema and every row, is gone."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not parquet at all" * 10)


def zero_length(path: Path) -> None:
    """What a power cut can leave where the data never reached the disk but the rename did."""
    path.write_bytes(b"")


def foreign(path: Path) -> None:
    """A well-formed Parquet file that is not one of ours (no schema version in its metadata)."""
    pq.write_table(pa.table({"row_key": ["row-000002"], "status": ["completed"]}), path)


def _rewrite_keeping_our_metadata(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    table = pq.read_table(path)
    metadata = {SCHEMA_VERSION_KEY: table.schema.metadata[SCHEMA_VERSION_KEY]}
    pq.write_table(change(table).replace_schema_metadata(metadata), path)


def missing_column(path: Path) -> None:
    """Our schema version in the metadata, but a column gone."""
    _rewrite_keeping_our_metadata(path, lambda table: table.drop_columns(["input_hash"]))


def wrong_type(path: Path) -> None:
    """Our schema version in the metadata, but a column of a type that cannot be ours."""

    def change(table: pa.Table) -> pa.Table:
        words = pa.array(["many"] * table.num_rows, pa.string())
        return table.set_column(table.schema.get_field_index("attempts"), "attempts", words)

    _rewrite_keeping_our_metadata(path, change)


def emptied(path: Path) -> None:
    """Our schema version in the metadata, but no row left: a segment rewritten as `table.slice(0, 0)`."""
    _rewrite_keeping_our_metadata(path, lambda table: table.slice(0, 0))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "garbage": garbage,
    "zero-length": zero_length,
    "foreign": foreign,
    "missing-column": missing_column,
    "wrong-type": wrong_type,
    "emptied": emptied,
}
"""Each kind of damage, by a name that reads well as a test id."""


def two_segments(directory: Path, clock: FakeClock) -> Path:
    """A batch of 5 pending rows in one segment, and a second segment moving row 2 to `submitting`, left
    uncompacted as a crash would leave them; returns the second segment."""
    table = StateTable.open(directory, batch_id="b1", clock=clock)
    table.add_pending(rows(5))
    table.transition("row-000002", "submitting")
    table.flush()
    table.lease.release()
    return sorted((directory / SEGMENTS).glob("*.parquet"))[-1]


def planned_batch(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    """A batch of 6 tickets as a crashed `rowrelay run` would leave it, with its input and `run.json`;
    returns (input, state directory, its last two segments: the ones the tests damage).

    Before those two segments: T-00000..T-00003 planned, T-00000 and T-00001 `queued` (resp-0, resp-1).
    The next-to-last adds T-00004 and T-00005; the last has T-00000 `in_progress` (resp-0), T-00001
    `completed` and T-00002 `submitting`.
    """
    source = write_tickets(tmp_path / "tickets.csv", 6)
    spec = InputSpec(template=TEMPLATE, id_column="ticket_id")
    planned = [(row.row_key, row.row_index, row.input_hash) for row in prepare(read_input(source), spec).rows]
    state = tmp_path / "state"
    table = StateTable.open(state, clock=FakeClock())
    table.add_pending(planned[:4])
    for step in ("submitting", "queued"):
        for n in (0, 1):
            table.transition(f"T-0000{n}", step, **({"response_id": f"resp-{n}"} if step == "queued" else {}))
        table.flush()
    table.add_pending(planned[4:])
    table.transition("T-00000", "in_progress")
    table.transition("T-00001", "completed", output_text="done", input_tokens=3, output_tokens=4)
    table.transition("T-00002", "submitting")
    table.flush()
    table.lease.release()  # a crash: no compaction, no close
    record = RunRecord(
        input=str(source.resolve()), spec=dataclasses.asdict(spec), output=str(tmp_path / "o.csv"),
        backend="emulator", model="gpt-4.1-mini", mode="poll",
    )  # fmt: skip
    write_run_record(state, record)
    return source, state, sorted((state / SEGMENTS).glob("*.parquet"))[-2:]


def compacted_then_crashed(directory: Path, clock: FakeClock) -> tuple[Path, list[Path]]:
    """A batch of 10 rows whose writer compacted once on its way (more than COMPACT_SEGMENTS checkpoints)
    and then crashed, leaving the snapshot and the segments written after it; returns (the snapshot, those
    segments, in version order). Every row is queued or completed: reopening it recovers no orphan."""
    table = StateTable.open(directory, batch_id="b1", clock=clock)
    table.add_pending(rows(10))
    for i in range(COMPACT_SEGMENTS + 6):  # one checkpoint per step of one row
        key = f"row-{i % 10:06d}"
        step = {"pending": "submitting", "submitting": "queued", "queued": "completed"}.get(
            table.get(key).status, "completed"
        )
        fields = {"response_id": f"resp-{key}"} if step == "queued" else {}
        table.transition(key, step, **fields)  # type: ignore[arg-type]
        table.flush()
    table.lease.release()  # a crash: no compaction at close
    [snapshot] = sorted((directory / SNAPSHOTS).glob("*.parquet"))
    return snapshot, sorted((directory / SEGMENTS).glob("*.parquet"))
