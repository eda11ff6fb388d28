"""A holder taken over between its lease check and its segment write (silent past the timeout:
SIGSTOP, a paused VM, an NFS stall) stops before the create that write announces leaves: its taker
loaded the table before the write, and sends the same row as pending."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state import checkpoint as checkpoint_module
from rowrelay.tasks.state.lease import LEASE_TIMEOUT
from rowrelay.tasks.state.segments import write_state_file
from tests.support.state import FakeClock, rows


def test_a_takeover_between_the_lease_check_and_the_write_stops_the_commit(
    batch_dir: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = StateTable.open(batch_dir, batch_id="b1", clock=clock)
    holder.add_pending(rows(1))
    # The holder went silent past the timeout (SIGSTOP, a paused VM): a taker's clock says so.
    taker_clock = FakeClock(clock.now + LEASE_TIMEOUT + 1)
    takers: list[StateTable] = []

    def taken_over_first(path: Path, table: pa.Table) -> None:
        if not takers:  # after the holder's lease check, before its segment is written
            takers.append(StateTable.open(batch_dir, clock=taker_clock))
        write_state_file(path, table)

    monkeypatch.setattr(checkpoint_module, "write_state_file", taken_over_first)
    holder.transition("row-000000", "submitting", attempts=1)
    with pytest.raises(LeaseHeldError, match="lease lost"):
        holder.flush()  # the commit a create waits on: raised, the create never leaves
    taker = takers[0]
    assert taker.lease.takeover is not None
    assert taker.get("row-000000").status == "pending"  # the taker loaded before the write: it sends it
    taker.close()
