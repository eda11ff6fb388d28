"""Opening a table crashed writers left behind (many segments, several writers, rows in flight) gives
the latest version of every row, as the readers' independent fold does, with the dead rows recovered."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from rowrelay.tasks.state import StateTable, read_table
from tests.support.state import FakeClock, rows

WRITERS = ("shard-0", "shard-1", "shard-2")


def _crashed_writers(directory: Path, clock: FakeClock) -> None:
    """Each writer moves its third of the rows on over many small checkpoints, then dies (no close)."""
    with StateTable.open(directory, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(90))
    leases = []
    for number, writer in enumerate(WRITERS):
        table = StateTable.open(directory, writer=writer, clock=clock)
        mine = [key for key, _, _ in rows(30, start=30 * number)]
        for step, key in enumerate(mine):
            table.transition(key, "submitting", attempts=1)
            if step % 3:
                table.transition(key, "queued", response_id=f"resp_{key}")
            if step % 3 == 2 and step < 20:
                table.transition(key, "completed", output_text=f"out {key}", input_tokens=step)
            clock.advance(1)
            table.flush()  # one segment per change: dozens of files per writer
        leases.append(table.lease)
    for lease in leases:  # all die together: none saw another's rows as orphans
        lease.release()


def test_open_folds_every_writers_segments(batch_dir: Path, clock: FakeClock) -> None:
    _crashed_writers(batch_dir, clock)
    assert len(list((batch_dir / "segments").glob("*.parquet"))) == 90
    on_disk, _ = read_table(batch_dir)  # the readers' fold (sort by key and version), not the store's
    with StateTable.open(batch_dir, clock=clock) as table:
        counts = {status: n for status, n in table.counts().items() if n}
        assert counts == {"orphaned": 30, "queued": 42, "completed": 18}
        recovered = {row.row_key for row in table.rows(["orphaned"])}
        assert recovered == {row["row_key"] for row in on_disk.to_pylist() if row["status"] == "submitting"}
        after, _ = read_table(batch_dir)  # the recovery is durable: the files agree with memory
        assert table.latest().equals(after)
        untouched = pa.compute.is_in(after.column("row_key"), value_set=pa.array(sorted(recovered)))
        assert after.filter(pa.compute.invert(untouched)).equals(on_disk.filter(pa.compute.invert(untouched)))
