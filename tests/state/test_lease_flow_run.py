"""A holder running as a Prefect flow run records that run beside its lease (`<writer>.flow_run`), so the
run taking the batch over from a holder killed outright can mark it Crashed (flows/killed_runs.py). The
lease keeps the six keys every release reads: an earlier release, finding a key it does not know, read a
live lease as none and took it over, sending its rows again. `retry`, `cancel` and `repair`, taking the
stale lease in between, leave the record to the next run."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, Lease, LeaseInfo, read_lease
from rowrelay.tasks.state.lease_flow_run import holding_as, read_sidecar, record, sidecar_of
from tests.support.leases import gone_pid, write_lease
from tests.support.state import FakeClock

RUN_ID = "0b5e7a52-3f0c-4c51-9d3e-6d2a1c8f4e11"
NEXT_RUN_ID = "5c2d0f9e-1111-4a2b-8c3d-9e8f7a6b5c4d"


@dataclass(frozen=True, slots=True)
class _LeaseBefore:
    """`LeaseInfo` as every release before 2026-12-06 declares it (e9bfdef:tasks/state/lease.py)."""

    writer: str
    host: str
    pid: int
    since: float
    heartbeat: float
    token: str


def _read_as_releases_before(path: Path) -> _LeaseBefore | None:
    """Those releases' `read_lease`, verbatim: a key they do not know is a TypeError, read as no lease."""
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
        return _LeaseBefore(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _killed_holder(batch_dir: Path, clock: FakeClock) -> LeaseInfo:
    """The lease and flow run record a run killed outright leaves: its pid gone, its heartbeat fresh."""
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    dead = LeaseInfo("main", socket.gethostname(), gone_pid(), clock.now, clock.now, "f" * 16)
    path = write_lease(batch_dir, dead)
    record(path, RUN_ID, dead.token, dead.host, dead.pid)
    return dead


def test_a_live_lease_taken_as_a_flow_run_is_held_for_releases_before_it(
    batch_dir: Path, clock: FakeClock
) -> None:
    """An older rowrelay (a deploy server on old code, a notebook kernel) resuming this batch is refused."""
    with holding_as(RUN_ID), StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        clock.advance(10)
        table.heartbeat()
        seen = _read_as_releases_before(table.lease.path)
        assert seen is not None, table.lease.path.read_text()
        assert (seen.pid, seen.token, seen.heartbeat) == (os.getpid(), table.lease.info.token, clock.now)
        assert read_sidecar(table.lease.path) == {
            "flow_run": RUN_ID, "token": table.lease.info.token, "host": socket.gethostname(),
            "pid": os.getpid(),
        }  # fmt: skip
        sidecar = sidecar_of(table.lease.path)
    assert not sidecar.exists()  # its own release removes it: a run that ended is not marked


def test_a_killed_holders_flow_run_is_known_to_the_run_taking_its_lease_over(
    batch_dir: Path, clock: FakeClock
) -> None:
    dead = _killed_holder(batch_dir, clock)
    with holding_as(NEXT_RUN_ID), StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        left = table.lease.left_running
        assert left is not None
        assert (left.flow_run, left.pid, left.process_gone) == (RUN_ID, dead.pid, True)
        assert left.reason == f"holder pid {dead.pid} is gone"
        assert table.lease.takeover is not None  # the table's problem line, as before
        table.lease.forget_left_running()  # the next run's own record is not the dead one's to remove
        assert (read_sidecar(table.lease.path) or {}).get("flow_run") == NEXT_RUN_ID


@pytest.mark.parametrize("command", ["retry", "cancel", "repair"])
def test_a_command_taking_a_killed_runs_lease_leaves_its_flow_run_to_the_next_run(
    command: str, batch_dir: Path, clock: FakeClock
) -> None:
    """Each takes the stale lease and gives it up, outside any flow run (repair as its own `_alone`,
    retry and cancel through the table). The record of the killed run stays for the run after them."""
    dead = _killed_holder(batch_dir, clock)
    if command == "repair":
        lease = Lease.acquire(batch_dir, "main", timeout=LEASE_TIMEOUT, clock=clock)
        lease.release()
    else:
        StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    assert read_lease(batch_dir / "leases" / "main.json") is None  # the killed run's lease is gone
    with holding_as(NEXT_RUN_ID), StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        left = table.lease.left_running
        assert left is not None
        assert (left.flow_run, left.token, left.process_gone) == (RUN_ID, dead.token, True)


def test_a_holder_silent_on_another_host_is_not_said_gone(batch_dir: Path, clock: FakeClock) -> None:
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    beat = clock.now - LEASE_TIMEOUT - 1
    silent = LeaseInfo("main", "worker-7", 4242, beat, beat, "f" * 16)
    record(write_lease(batch_dir, silent), RUN_ID, silent.token, silent.host, silent.pid)
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        left = table.lease.left_running
        assert left is not None
        assert left.process_gone is False  # only its heartbeat stopped
        assert left.reason.startswith("heartbeat 61.0s old")
        table.lease.forget_left_running()  # a run with no flow run of its own: the record is told once
        assert not sidecar_of(table.lease.path).exists()


def test_a_lease_written_before_flow_runs_were_recorded_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    old = {"writer": "main", "host": "h", "pid": 7, "since": 1.0, "heartbeat": 2.0, "token": "t"}
    path.write_text(json.dumps(old))
    assert read_lease(path) == LeaseInfo("main", "h", 7, 1.0, 2.0, "t")


def test_a_later_releases_live_lease_is_still_refused(batch_dir: Path, clock: FakeClock) -> None:
    """Read as no lease (a TypeError on its unknown field), a live holder's lease was taken over."""
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    live = LeaseInfo("main", socket.gethostname(), os.getpid(), clock.now, clock.now, "f" * 16)
    write_lease(batch_dir, live, shard_of="coordinator")
    with pytest.raises(LeaseHeldError, match=f"pid={os.getpid()}"):
        StateTable.open(batch_dir, batch_id="b1", clock=clock)
