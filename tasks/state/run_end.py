"""How a batch's last run ended, as `rowrelay status` and `summary()` say it, and its note in `run.json`.

People come back to a batch hours later, in another process or a notebook, and ask `rowrelay status`
first; it said the rows' counts and whether a live run held the batch, never how the last run ended:
every row taken to its end, stopped by Ctrl-C or the cost cap or an outage, killed, failed past
`--fail-when-failed`. The run now marks its record as it starts (`began`: a token of its own, when, its
host and pid) and once more as it ends (`ended`: how, when, its own words), atomically as every write of
the record. A run killed outright writes no end: its record says it began and nothing more, and its lease
is left behind, stale (or its pid is gone), which is how a killed run is told from one still going.

    begin_mark(now)                                            # record_run: in the record it writes
    record_end(DIR, began["id"], "capped", "cost cap reached: ...", now)   # the run, at its end
    last_run(DIR, read_run_record(DIR), now)                    # status: {"ended": "capped", "at": ...}

The end is written under the main writer's lease lock, on the run's own record only: the run has given
its lease up by then (its export comes after the table closes), and a run taking the batch meanwhile
writes its own record, which must not get another run's end.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from rowrelay.tasks.processes import gone_here
from rowrelay.tasks.state.files import LEASES, MAIN_WRITER
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, lease_lock, read_lease, stale_reason
from rowrelay.tasks.state.run_record import RunEnding, RunRecord, read_run_record, write_run_record
from rowrelay.tasks.state.schema import to_datetime

__all__ = ["begin_mark", "last_run", "last_run_said", "record_end"]

log = logging.getLogger(__name__)


def _when(now: float) -> str:
    """A time as status says it (`held_by`'s `since`): ISO 8601, UTC, to the second."""
    return to_datetime(now).isoformat(timespec="seconds")


def begin_mark(now: float) -> dict[str, Any]:
    """A run's `began`, for the record it writes as it starts: a token no other run has, when, where."""
    return {"id": secrets.token_hex(8), "at": _when(now), "host": socket.gethostname(), "pid": os.getpid()}


def record_end(directory: Path, run_id: str, how: RunEnding, why: str | None, now: float) -> bool:
    """Note on the batch's record how the run `run_id` ended, if the record is still that run's and no live
    run holds the batch; whether it did. Never raises: a note that cannot be written (a disk gone
    read-only, the record damaged since) is one warning, and the run ends as it was ending."""
    try:
        with lease_lock(directory, MAIN_WRITER):  # no run takes the batch while the record is rewritten
            holder = read_lease(directory / LEASES / f"{MAIN_WRITER}.json")
            if holder is not None and stale_reason(holder, now, LEASE_TIMEOUT) is None:
                return False  # a run holds it now: the record is, or is about to be, its own
            record = read_run_record(directory)
            if record is None or record.began is None or record.began.get("id") != run_id:
                return False
            ended = {"how": how, "at": _when(now), "why": why}
            write_run_record(directory, dataclasses.replace(record, ended=ended))
    except Exception as exc:  # the note is a courtesy to a later `status`: never the run's end
        log.warning("%s: could not record how the run ended (%s): %s", directory, how, exc)
        return False
    return True


def last_run(
    directory: Path, record: RunRecord | None, now: float, damaged: bool = False
) -> dict[str, Any] | None:
    """How the batch's last run ended (`summary()`'s and `status --json`'s `last_run`): `ended` (a
    `RunEnding`, or `running`, `killed`, `not recorded`), `at` (when it ended, or began for one going or
    killed), `why` (its words, or why it reads as killed); None when no run got as far as its record.
    `damaged`: the record could not be read (said by the caller)."""
    if damaged:
        return {"ended": "not recorded", "at": None, "why": "its run record is damaged"}
    if record is None:
        return None
    if "ended" in record.unrecorded:
        return {"ended": "not recorded", "at": None, "why": "an older release ran it"}
    if record.ended is not None:
        return {"ended": record.ended["how"], "at": record.ended["at"], "why": record.ended.get("why")}
    began = record.began or {}
    lease = read_lease(directory / LEASES / f"{MAIN_WRITER}.json")
    if lease is not None:
        stale = stale_reason(lease, now, LEASE_TIMEOUT)
        if stale is None:
            return {"ended": "running", "at": began.get("at"), "why": f"host {lease.host}, pid {lease.pid}"}
        why = f"the lease it left, host {lease.host}, pid {lease.pid}, is stale: {stale}"
        return {"ended": "killed", "at": began.get("at"), "why": why}
    host, pid = began.get("host"), began.get("pid")
    if isinstance(host, str) and isinstance(pid, int):
        if gone_here(host, pid):  # its lease taken and given back since (a retry, a cancel, a repair)
            return {"ended": "killed", "at": began.get("at"), "why": f"its process, pid {pid}, is gone"}
        if host == socket.gethostname():  # alive, its lease given up: it is writing its output
            return {"ended": "running", "at": began.get("at"), "why": f"host {host}, pid {pid}"}
    return {"ended": "not recorded", "at": began.get("at"), "why": "it holds no lease and recorded no end"}


_SAID: dict[str, str] = {
    "completed": "completed at {at}",
    "failed": "failed at {at}",
    "capped": "stopped by the cost cap at {at}",
    "stopped": "stopped at {at}",
    "outage": "stopped by an outage at {at}",
    "error": "stopped by an error at {at}",
    "running": "still running, since {at}",
    "killed": "killed: began {at} and recorded no end",
}


def last_run_said(last: dict[str, Any] | None) -> str | None:
    """Status's line on how the last run ended: `last run: stopped by the cost cap at 2026-12-07T03:12:09
    +00:00 (cost cap reached: ...)`; None when no run got as far as its record."""
    if last is None:
        return None
    how, why = last["ended"], last["why"]
    if how == "not recorded":
        return f"last run: how it ended is not recorded ({why})"
    if how == "stopped" and why in ("Ctrl-C", "SIGTERM"):
        return f"last run: stopped by {why} at {last['at']}"
    said = _SAID[how].format(at=last["at"])
    return f"last run: {said}" + ("" if not why else f" ({why})")
