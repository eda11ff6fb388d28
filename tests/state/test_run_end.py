"""How a batch's last run ended (tasks/state/run_end.py): noted once on the run's own record, only while
no live run holds the batch, and read back with the leases for a run that noted nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from rowrelay.tasks.state import RUN_FILE
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, Lease
from rowrelay.tasks.state.run_end import begin_mark, last_run, last_run_said, record_end
from rowrelay.tasks.state.run_record import RunRecord, read_run_record, write_run_record

NOW = 1_800_000_000.0
"""The time every mark and lease below is set against: no clock read."""


def _began(tmp_path: Path, **mark: object) -> tuple[RunRecord, str]:
    """A run's record as `record_run` writes it, marked with `began`; and the mark's id. The batch's
    folder holds its leases' folder, as a run's does once it has taken and given back its lease."""
    Lease.acquire(tmp_path, "main", timeout=LEASE_TIMEOUT, clock=lambda: NOW).release()
    began = {**begin_mark(NOW), **mark}
    record = RunRecord(output="o", backend="emulator", model="m", mode="poll", began=began)
    write_run_record(tmp_path, record)
    return record, str(began["id"])


def _gone_pid() -> int:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(ended.stdout)


def test_a_runs_end_is_noted_on_its_own_record_and_said(tmp_path: Path) -> None:
    _record, run_id = _began(tmp_path)
    assert record_end(tmp_path, run_id, "capped", "cost cap reached: spent $0.001", NOW + 60)
    last = last_run(tmp_path, read_run_record(tmp_path), NOW + 120)
    assert last == {
        "ended": "capped",
        "at": "2027-01-15T08:01:00+00:00",
        "why": "cost cap reached: spent $0.001",
    }
    assert last_run_said(last) == (
        "last run: stopped by the cost cap at 2027-01-15T08:01:00+00:00 (cost cap reached: spent $0.001)"
    )
    assert (
        last_run_said({"ended": "stopped", "at": "T", "why": "SIGTERM"})
        == "last run: stopped by SIGTERM at T"
    )


def test_no_end_is_noted_on_another_runs_record_nor_while_a_live_run_holds_the_batch(tmp_path: Path) -> None:
    _record, run_id = _began(tmp_path)
    _began(tmp_path)  # a later run wrote its own record since
    assert not record_end(tmp_path, run_id, "completed", None, NOW)
    assert read_run_record(tmp_path).ended is None  # type: ignore[union-attr]

    _record, run_id = _began(tmp_path)
    lease = Lease.acquire(tmp_path, "main", timeout=LEASE_TIMEOUT, clock=lambda: NOW)
    try:  # a run took the batch, and has not written its record yet
        assert not record_end(tmp_path, run_id, "completed", None, NOW + 1)
    finally:
        lease.release()
    assert read_run_record(tmp_path).ended is None  # type: ignore[union-attr]
    assert record_end(tmp_path, run_id, "completed", None, NOW + 2)


def test_a_run_that_noted_no_end_reads_running_or_killed_by_its_lease_or_its_pid(tmp_path: Path) -> None:
    record, _id = _began(tmp_path)
    began = str(record.began["at"])  # type: ignore[index]
    lease = Lease.acquire(tmp_path, "main", timeout=LEASE_TIMEOUT, clock=lambda: NOW)
    here = socket.gethostname()
    running = {"ended": "running", "at": began, "why": f"host {here}, pid {os.getpid()}"}
    assert last_run(tmp_path, record, NOW + 1) == running
    stale = f"heartbeat {LEASE_TIMEOUT + 1:.1f}s old (timeout {LEASE_TIMEOUT:g}s)"
    assert last_run(tmp_path, record, NOW + LEASE_TIMEOUT + 1) == {
        "ended": "killed", "at": began,
        "why": f"the lease it left, host {here}, pid {os.getpid()}, is stale: {stale}",
    }  # fmt: skip
    lease.release()
    # its lease taken and given back since (a retry, a cancel): its pid says it
    pid = _gone_pid()
    gone = dataclasses.replace(record, began={**record.began, "pid": pid})  # type: ignore[dict-item]
    assert last_run(tmp_path, gone, NOW) == {
        "ended": "killed",
        "at": began,
        "why": f"its process, pid {pid}, is gone",
    }
    elsewhere = dataclasses.replace(record, began={**record.began, "host": "elsewhere"})  # type: ignore[dict-item]
    assert last_run(tmp_path, elsewhere, NOW) == {
        "ended": "not recorded", "at": began, "why": "it holds no lease and recorded no end"
    }  # fmt: skip


def test_an_older_releases_record_reads_as_not_recorded_and_no_record_as_none(tmp_path: Path) -> None:
    (tmp_path / RUN_FILE).write_text(
        json.dumps({"output": "o", "backend": "b", "model": "m", "mode": "poll"})
    )
    last = last_run(tmp_path, read_run_record(tmp_path), NOW)
    assert last == {"ended": "not recorded", "at": None, "why": "an older release ran it"}
    assert last_run_said(last) == "last run: how it ended is not recorded (an older release ran it)"
    assert last_run(tmp_path / "never", None, NOW) is None
    assert last_run_said(None) is None
    assert last_run(tmp_path, None, NOW, damaged=True) == {
        "ended": "not recorded", "at": None, "why": "its run record is damaged"
    }  # fmt: skip
