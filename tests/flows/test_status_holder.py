"""`rowrelay status` says whether a live run holds the batch: rows `in_progress` read the same for a run
waiting on them and for one killed (a crash, a reboot, `kill -9`), and a monitor could not tell a night
still going from one that died (flows/status_holder.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from rowrelay.flows.status_holder import Holding, holding, holding_said
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, LeaseInfo
from tests.support.cli import IN_PROCESS, env_for, rowrelay, run_args, run_until_in_flight
from tests.support.tickets import write_tickets

NOW = 1_800_000_000.0
"""The time the leases below are read at: every heartbeat is set against it, no clock read."""


def _lease(state: Path, writer: str, *, host: str, pid: int, beat: float) -> LeaseInfo:
    """A lease as a run writes it (`leases/<writer>.json`), its heartbeat `beat` seconds before NOW."""
    info = LeaseInfo(writer, host, pid, NOW - 3600, NOW - beat, "0123456789abcdef")
    (state / "leases").mkdir(parents=True, exist_ok=True)
    (state / "leases" / f"{writer}.json").write_text(json.dumps(asdict(info)))
    return info


def _gone_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(ended.stdout)


def _never_asked() -> str:
    raise AssertionError("asked what the next run does with rows being sent, where none are")


def test_a_live_holder_is_named_and_a_gone_one_said_gone(tmp_path: Path) -> None:
    here = socket.gethostname()
    live = _lease(tmp_path / "live", "main", host=here, pid=os.getpid(), beat=5)
    assert holding(tmp_path / "live", NOW) == Holding(live)
    assert (
        holding_said(Holding(live), {"in_progress": 9}, _never_asked)
        == f"held by a run: host {here}, pid {os.getpid()} (live)"
    )
    assert Holding(live).as_json() == {
        "host": here, "pid": os.getpid(), "since": "2027-01-15T07:00:00+00:00",
        "heartbeat": "2027-01-15T07:59:55+00:00", "live": True,
    }  # fmt: skip

    pid = _gone_pid()
    gone = _lease(tmp_path / "killed", "main", host=here, pid=pid, beat=5)  # heartbeat fresh, pid gone
    found = holding(tmp_path / "killed", NOW)
    assert found == Holding(None, gone, f"holder pid {pid} is gone")
    assert found.as_json() is None
    assert holding_said(found, {"in_progress": 9}, _never_asked) == (
        f"no run holds it (the lease its last run left, host {here}, pid {pid}, is stale: holder pid "
        f"{pid} is gone): the 9 rows in flight wait for the next run"
    )
    assert holding_said(found, {"completed": 9}, _never_asked) is None  # nothing in flight: nothing waits


def test_a_holder_on_another_host_is_live_while_its_heartbeat_is(tmp_path: Path) -> None:
    """Its pid cannot be looked at from here: its heartbeat, as a run taking the lease over reads it."""
    fresh = _lease(tmp_path / "a", "shard-1", host="worker-7", pid=4242, beat=LEASE_TIMEOUT / 2)
    assert holding(tmp_path / "a", NOW) == Holding(fresh)
    stale = _lease(tmp_path / "b", "shard-1", host="worker-7", pid=4242, beat=LEASE_TIMEOUT + 1)
    assert holding(tmp_path / "b", NOW) == Holding(
        None, stale, f"heartbeat 61.0s old (timeout {LEASE_TIMEOUT:g}s)"
    )
    assert holding_said(holding(tmp_path / "b", NOW), {"queued": 1}, _never_asked) == (
        "no run holds it (the lease its last run left, host worker-7, pid 4242, is stale: heartbeat "
        f"61.0s old (timeout {LEASE_TIMEOUT:g}s)): the row in flight waits for the next run"
    )
    assert holding(tmp_path / "none", NOW) == Holding(None)  # never run, or every lease released


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_status_tells_a_run_going_from_one_killed_and_touches_no_lease(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = write_tickets(tmp_path / "tickets.csv", 9), tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120"))) as emu:
        env = env_for(prefect_env, emu)
        run = run_until_in_flight(run_args(source, tmp_path), env, state, 9, tmp_path / "run.log")
        # Held still while status reads: the run beats its own lease every LEASE_TIMEOUT/4 (15 s), and on a
        # loaded machine that beat fell between the two reads of the files below (a suite run failed so).
        os.kill(run.pid, signal.SIGSTOP)
        try:
            leases = _files(state / "leases")
            going = rowrelay(["status", str(state)], env, command=IN_PROCESS)
            going_json = rowrelay(["status", str(state), "--json"], env, command=IN_PROCESS)
            assert _files(state / "leases") == leases  # read only: nothing taken, locked or refreshed
        finally:
            os.kill(run.pid, signal.SIGKILL)  # a crash: its lease is left behind, its rows in flight
            run.wait()
        killed = rowrelay(["status", str(state)], env, command=IN_PROCESS)
        killed_json = rowrelay(["status", str(state), "--json"], env, command=IN_PROCESS)
        assert _files(state / "leases") == leases
    here = socket.gethostname()
    assert going.returncode == 0, going.stderr
    assert f"held by a run: host {here}, pid {run.pid} (live)\n" in going.stdout, going.stdout
    held = json.loads(going_json.stdout)["held_by"]
    assert (held["host"], held["pid"], held["live"]) == (here, run.pid, True)
    assert killed.returncode == 0, killed.stderr
    assert (
        f"no run holds it (the lease its last run left, host {here}, pid {run.pid}, is stale: holder pid "
        f"{run.pid} is gone): the 9 rows in flight wait for the next run\n"
    ) in killed.stdout, killed.stdout
    facts = json.loads(killed_json.stdout)
    assert facts["held_by"] is None
    assert sum(facts["counts"][status] for status in ("submitting", "queued", "in_progress")) == 9


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Each file in `folder`: its bytes and modification time (a lease refreshed, or a lock file made)."""
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in sorted(folder.iterdir())}
