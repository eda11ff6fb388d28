"""Urgent commits right after a write share the next one (commit.URGENT_SPACING): while creates flow,
every answer's id is urgent, and writes one after another of a few rows each cost the state thread a
segment's fixed CPU apiece (Parquet, fsyncs, the lease) and a compaction every 64."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rowrelay.tasks.state import StateTable, commit, load
from rowrelay.tasks.state.files import SEGMENTS
from tests.support.state import FakeClock, rows


def _segments(directory: Path) -> int:
    return len(list((directory / SEGMENTS).glob("*.parquet")))


async def test_urgent_commits_just_after_a_write_share_the_next_one(
    batch_dir: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Half a second, so the test needs no tight timing: the second id comes 50 ms after the first.
    monkeypatch.setattr(commit, "URGENT_SPACING", 0.5, raising=False)
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=30.0) as table:
        table.add_pending(rows(3))
        table.transition("row-000000", "submitting")
        await asyncio.wait_for(table.commit(urgent=True), timeout=5)  # the first write: at once
        before = _segments(batch_dir)
        table.transition("row-000001", "submitting")
        first = asyncio.ensure_future(table.commit(urgent=True))
        await asyncio.sleep(0.05)
        assert not first.done()  # spaced from the write before...
        table.transition("row-000002", "submitting")
        second = asyncio.ensure_future(table.commit(urgent=True))
        await asyncio.wait_for(asyncio.gather(first, second), timeout=5)  # ...and never the interval
        assert _segments(batch_dir) == before + 1  # both ids in one write, not one each
        assert (load(batch_dir)["status"] == "submitting").all()
