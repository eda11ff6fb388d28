"""The lease: one runner per (batch, writer); stale leases are taken over and reported."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.state import StateTable
from tests.support.state import FakeClock


def _lease(directory: Path, writer: str = "main") -> dict[str, object]:
    data: dict[str, object] = json.loads((directory / "leases" / f"{writer}.json").read_text())
    return data


def test_second_opener_is_refused_naming_the_holder(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock):
        with pytest.raises(LeaseHeldError) as caught:
            StateTable.open(batch_dir, batch_id="b1", clock=clock)
        message = str(caught.value)
        assert f"pid={os.getpid()}" in message
        assert f"host={socket.gethostname()}" in message
        assert "since=" in message


def test_other_writers_are_independent(batch_dir: Path, clock: FakeClock) -> None:
    with (
        StateTable.open(batch_dir, batch_id="b1", writer="shard-0", clock=clock) as zero,
        StateTable.open(batch_dir, batch_id="b1", writer="shard-1", clock=clock) as one,
    ):
        # Both hold a lease at once, each its own file and token; neither took anything over.
        assert zero.lease.path == batch_dir / "leases" / "shard-0.json"
        assert one.lease.path == batch_dir / "leases" / "shard-1.json"
        assert (zero.lease.takeover, one.lease.takeover) == (None, None)
        assert _lease(batch_dir, "shard-0")["token"] == zero.lease.info.token
        assert _lease(batch_dir, "shard-1")["token"] == one.lease.info.token
        assert zero.lease.info.token != one.lease.info.token
        zero.lease.check()  # each still sees its lease as its own
        one.lease.check()
        # One writer's heartbeat moves only its own lease.
        clock.advance(30)
        zero.heartbeat()
        assert _lease(batch_dir, "shard-0")["heartbeat"] == clock.now
        assert _lease(batch_dir, "shard-1")["heartbeat"] == clock.now - 30
        # Each writer is still exclusive within itself.
        with pytest.raises(LeaseHeldError, match="shard-1"):
            StateTable.open(batch_dir, writer="shard-1", clock=clock)
        # Releasing one leaves the other held, and its writer free to open again.
        zero.close()
        assert not zero.lease.path.exists()
        one.lease.check()
        assert _lease(batch_dir, "shard-1")["token"] == one.lease.info.token
        with StateTable.open(batch_dir, writer="shard-0", clock=clock) as again:
            assert again.lease.takeover is None
            one.lease.check()


def test_release_on_close(batch_dir: Path, clock: FakeClock) -> None:
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    assert not (batch_dir / "leases" / "main.json").exists()
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_lease_of_a_dead_pid_is_taken_over(batch_dir: Path, clock: FakeClock) -> None:
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    dead = _dead_pid()
    lease = {"writer": "main", "host": socket.gethostname(), "pid": dead, "since": clock.now,
             "heartbeat": clock.now, "token": "dead"}  # fmt: skip
    (batch_dir / "leases" / "main.json").write_text(json.dumps(lease))
    with StateTable.open(batch_dir, clock=clock) as table:
        assert table.lease.takeover is not None
        assert f"pid={dead}" in table.lease.takeover
        assert "is gone" in table.lease.takeover
        assert any("took over" in p for p in table.problems)
        assert _lease(batch_dir)["pid"] == os.getpid()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are told apart through /proc")
def test_the_lease_of_an_ended_process_not_yet_reaped_is_taken_over(
    batch_dir: Path, clock: FakeClock
) -> None:
    # Prefect's runner runs a cancelled flow's hooks right after killing the flow's process, which may
    # not be reaped yet: the hook must not find the batch held by it.
    StateTable.open(batch_dir, batch_id="b1", clock=clock).close()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        while b") Z " not in Path(f"/proc/{child.pid}/stat").read_bytes():  # ended, not waited for
            time.sleep(0.01)
        lease = {"writer": "main", "host": socket.gethostname(), "pid": child.pid, "since": clock.now,
                 "heartbeat": clock.now, "token": "ended"}  # fmt: skip
        (batch_dir / "leases" / "main.json").write_text(json.dumps(lease))
        with StateTable.open(batch_dir, clock=clock) as table:
            assert table.lease.takeover is not None
            assert f"holder pid {child.pid} is gone" in table.lease.takeover
    finally:
        child.wait()


def test_heartbeat_timeout_with_a_fake_clock(batch_dir: Path, clock: FakeClock) -> None:
    holder = StateTable.open(batch_dir, batch_id="b1", clock=clock, lease_timeout=60)
    clock.advance(30)
    with pytest.raises(LeaseHeldError):
        StateTable.open(batch_dir, clock=clock, lease_timeout=60)
    holder.heartbeat()
    assert _lease(batch_dir)["heartbeat"] == clock.now
    clock.advance(61)
    with StateTable.open(batch_dir, clock=clock, lease_timeout=60) as taker:
        assert taker.lease.takeover is not None
        assert "heartbeat" in taker.lease.takeover


def test_taken_over_holder_stops_writing(batch_dir: Path, clock: FakeClock) -> None:
    holder = StateTable.open(batch_dir, batch_id="b1", clock=clock, lease_timeout=60)
    holder.add_pending([("a", 0, "h")])
    clock.advance(61)
    with StateTable.open(batch_dir, clock=clock, lease_timeout=60):
        holder.transition("a", "submitting")
        with pytest.raises(LeaseHeldError, match="lease lost"):
            holder.flush()
    with pytest.raises(LeaseHeldError):
        holder.close()  # the final flush is refused too; the successor's lease is left alone


def test_checkpoints_refresh_the_heartbeat(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, lease_timeout=60) as table:
        table.add_pending([("a", 0, "h")])
        clock.advance(20)
        table.transition("a", "submitting")
        table.flush()
        assert _lease(batch_dir)["heartbeat"] == clock.now


async def test_commit_keeps_an_idle_lease_alive(batch_dir: Path, clock: FakeClock) -> None:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, lease_timeout=60) as table:
        clock.advance(40)
        await table.maybe_commit()  # nothing to write, but the heartbeat is refreshed
        assert _lease(batch_dir)["heartbeat"] == clock.now
        clock.advance(40)
        with pytest.raises(LeaseHeldError):
            StateTable.open(batch_dir, clock=clock, lease_timeout=60)
