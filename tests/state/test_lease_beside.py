"""Leases beside the main writer's: a run is refused while a shard of another run is live (its
coordinator killed, or silent past the timeout, while its Dask tasks run on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.lease import IN_THIS_PROCESS, LEASE_TIMEOUT
from tests.support.state import FakeClock, rows


def test_the_main_writer_is_refused_while_a_shard_is_live(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", writer="shard-0", clock=clock) as shard:
        shard.add_pending(rows(2))
        clock.advance(LEASE_TIMEOUT / 2)  # the coordinator's lease would be stale by now; the shard's is not
        with pytest.raises(LeaseHeldError) as caught:
            StateTable.open(batch_dir, clock=clock)
        # the words and way on of a held batch, naming the shard (held here by this very process)
        assert "writer 'shard-0' is held by a run in this process" in str(caught.value)
        assert IN_THIS_PROCESS in str(caught.value)
        assert not (batch_dir / "leases" / "main.json").exists()  # the refused open kept nothing
        # the coordinator reading its own shards' rows is not refused
        with StateTable.open(batch_dir, clock=clock, beside_writers=True) as reader:
            assert len(reader) == 2
        shard.heartbeat()
        clock.advance(LEASE_TIMEOUT + 1)  # the shard silent past the timeout: stale, no longer in the way
        with StateTable.open(batch_dir, clock=clock) as table:
            assert len(table) == 2
