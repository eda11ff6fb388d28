"""A lease records the Prefect flow run its holder runs as, so the run taking over from a holder killed
outright can mark that flow run Crashed (flows/killed_runs.py); leases written before it, without one, and
by a later release, with fields this one does not know, still read as leases."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, LeaseInfo, holding_as, read_lease
from tests.support.leases import gone_pid, write_lease
from tests.support.state import FakeClock

RUN_ID = "0b5e7a52-3f0c-4c51-9d3e-6d2a1c8f4e11"


def test_a_lease_taken_as_a_flow_run_records_it_through_every_heartbeat(
    batch_dir: Path, clock: FakeClock
) -> None:
    with holding_as(RUN_ID), StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.lease.info.flow_run == RUN_ID
        clock.advance(10)
        table.heartbeat()
        assert json.loads(table.lease.path.read_text())["flow_run"] == RUN_ID
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as outside:  # no flow run: none recorded
        assert json.loads(outside.lease.path.read_text())["flow_run"] is None


def test_a_killed_holders_flow_run_is_known_to_the_run_taking_its_lease_over(
    batch_dir: Path, clock: FakeClock
) -> None:
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    pid = gone_pid()
    write_lease(
        batch_dir, LeaseInfo("main", socket.gethostname(), pid, clock.now, clock.now, "f" * 16, RUN_ID)
    )
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        taken = table.lease.taken_over
        assert taken is not None
        assert (taken.holder.pid, taken.holder.flow_run, taken.process_gone) == (pid, RUN_ID, True)
        assert table.lease.takeover == taken.said()  # the table's problem line, as before


def test_a_holder_silent_on_another_host_is_not_said_gone(batch_dir: Path, clock: FakeClock) -> None:
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    beat = clock.now - LEASE_TIMEOUT - 1
    write_lease(batch_dir, LeaseInfo("main", "worker-7", 4242, beat, beat, "f" * 16, RUN_ID))
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        assert table.lease.taken_over is not None
        assert table.lease.taken_over.process_gone is False  # only its heartbeat stopped
        assert table.lease.taken_over.reason.startswith("heartbeat 61.0s old")


def test_a_lease_written_before_flow_runs_were_recorded_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    old = {"writer": "main", "host": "h", "pid": 7, "since": 1.0, "heartbeat": 2.0, "token": "t"}
    path.write_text(json.dumps(old))
    assert read_lease(path) == LeaseInfo("main", "h", 7, 1.0, 2.0, "t", None)


def test_a_later_releases_live_lease_is_still_refused(batch_dir: Path, clock: FakeClock) -> None:
    """Read as no lease (a TypeError on its unknown field), a live holder's lease was taken over."""
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    live = LeaseInfo("main", socket.gethostname(), os.getpid(), clock.now, clock.now, "f" * 16)
    write_lease(batch_dir, live, shard_of="coordinator")
    with pytest.raises(LeaseHeldError, match=f"pid={os.getpid()}"):
        StateTable.open(batch_dir, batch_id="b1", clock=clock)
