"""A response the emulator holds, as `/emulator/responses` lists it: its status now, what it was sent
with, its ledger entry's answer and fault, and its times to the microsecond in wall time, from which the
benchmarks split a client's lag from the server's own lateness. The ledger's entries are listed by
`jobs.py` (`/emulator/jobs`)."""

from __future__ import annotations

from typing import Any

from rowrelay.tasks.emulator.jobs import Job
from rowrelay.tasks.emulator.timeline import Record

__all__ = ["response_row"]


def response_row(
    record: Record, job: Job, elapsed: float, told_ended: float | None, wall_offset: float
) -> dict[str, Any]:
    """`record`, `elapsed` seconds after it started, with `job` its ledger entry; `told_ended`: the
    monotonic time a client was first told it ended (None: not yet), which, as `record.started` is,
    `wall_offset` turns into wall time."""
    status = record.status(elapsed)
    finished = record.finished_after
    completed_at = (
        record.created_at + round(finished) if status == "completed" and finished is not None else None
    )
    return {
        "id": record.id,
        "status": status,
        "background": record.background,
        "stream": record.stream,
        "model": record.body.get("model"),
        "metadata": record.body.get("metadata") or {},
        "created_at": record.created_at,
        "completed_at": completed_at,
        "created_at_precise": record.started + wall_offset,
        "completed_at_precise": (
            record.started + wall_offset + finished
            if status == "completed" and finished is not None
            else None
        ),
        "ended_told_at_precise": None if told_ended is None else told_ended + wall_offset,
        "answered": job.answered is True,
        "fault": None if job.fault is None else str(job.fault),
    }
