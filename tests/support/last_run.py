"""A batch's state as its last run left it on some server: rows in given statuses and its `run.json`."""

from __future__ import annotations

from pathlib import Path

from rowrelay.tasks.state import RunRecord, StateTable, write_run_record


def ran_on(state: Path, output: Path, backend: str, base_url: str | None, statuses: list[str]) -> None:
    """The state of a batch whose last run was on `backend` at `base_url`, its rows (`T-00000`, ...) in
    `statuses`: pending, queued, in_progress or completed."""
    with StateTable.open(state) as table:
        table.add_pending([(f"T-{i:05d}", i, f"hash {i}") for i in range(len(statuses))])
        for i, status in enumerate(statuses):
            key = f"T-{i:05d}"
            if status != "pending":
                table.transition(key, "submitting", attempts=1)
                table.transition(key, "queued", response_id=f"resp_{i}")
            if status in ("in_progress", "completed"):
                table.transition(key, "in_progress")
            if status == "completed":
                table.transition(key, "completed", output_text="an answer")
    record = RunRecord(output=str(output), backend=backend, base_url=base_url, model="m", mode="poll")
    write_run_record(state, record)
