"""A checkpoint that fails to write: its rows go into the next one, and `durable` never runs ahead.

The failure is a real one: the lease file is rewritten as another runner's, so the table's own check
before every write refuses; putting the lease back lets the next checkpoint through.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.state import StateTable, load
from tests.support.state import FakeClock, rows


class _LeaseThief:
    """Swap the lease file for another runner's, and back."""

    def __init__(self, table: StateTable) -> None:
        self.path = table.lease.path
        self.original = self.path.read_bytes()

    def steal(self) -> None:
        self.path.write_text(json.dumps({**json.loads(self.original), "token": "someone-else"}))

    def give_back(self) -> None:
        self.path.write_bytes(self.original)


def _segments(directory: Path) -> list[str]:
    return sorted(p.name for p in (directory / "segments").iterdir())


def test_failed_flush_rows_go_into_the_next_checkpoint(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(3))
        thief = _LeaseThief(table)
        before = _segments(batch_dir)
        table.transition("row-000000", "submitting")
        thief.steal()
        with pytest.raises(LeaseHeldError):
            table.flush()
        assert table.pending_rows == 1
        assert table.durable < table.changes
        assert _segments(batch_dir) == before  # nothing written, not even a temp file
        thief.give_back()
        table.transition("row-000001", "submitting")
        assert table.flush() == 2
        assert table.durable == table.changes
        assert load(batch_dir)["status"].tolist()[:2] == ["submitting", "submitting"]


async def test_failed_commit_is_reported_and_retried(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=0.0) as table:
        table.add_pending(rows(3))
        thief = _LeaseThief(table)
        table.transition("row-000000", "submitting")
        thief.steal()
        with pytest.raises(LeaseHeldError):
            await table.commit()
        assert table.pending_rows == 1
        assert table.durable < table.changes
        thief.give_back()
        await table.commit()
        assert table.durable == table.changes
        assert load(batch_dir).loc[0, "status"] == "submitting"


async def test_flush_waits_for_the_write_in_flight(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=0.0) as table:
        table.add_pending(rows(200))
        for key, _, _ in rows(200):
            table.transition(key, "submitting")
        writing = asyncio.ensure_future(table.write_pending())  # what the group commit's leader calls
        await asyncio.sleep(0)  # it has captured the 200 rows and handed them to the writer thread
        assert table.pending_rows == 0
        table.transition("row-000000", "queued", response_id="resp_0")
        assert table.flush() == 1  # the next checkpoint, after the one in flight
        await writing
        assert table.durable == table.changes
        assert load(batch_dir).loc[0, "status"] == "queued"
