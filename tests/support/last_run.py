"""A batch's state as its last run left it on some server: rows in given statuses and its `run.json`."""

from __future__ import annotations

from pathlib import Path

from rowrelay.tasks.state import RunRecord, StateTable, write_run_record


def ran_on(
    state: Path,
    output: Path,
    backend: str,
    base_url: str | None,
    statuses: list[str],
    planned: list[tuple[str, int, str]] | None = None,
    azure_endpoint: str | None = None,
    input: Path | None = None,
    model: str = "m",
    spec: dict[str, str | None] | None = None,
) -> None:
    """The state of a batch whose last run was on `backend` at `base_url`, its rows in `statuses`:
    pending, queued, in_progress or completed. The rows are `planned` (key, index, input hash: an
    input's own, `PreparedInput.planned`), else `T-00000`, ... with made-up hashes; `azure_endpoint`:
    the Azure resource the run used, as a run on the azure backend records it; `input` the file it read,
    `model` its model, `spec` how it made and keyed prompts (none recorded, as in records of releases
    before run.json held it)."""
    rows = planned or [(f"T-{i:05d}", i, f"hash {i}") for i in range(len(statuses))]
    with StateTable.open(state) as table:
        table.add_pending(rows)
        for i, status in enumerate(statuses):
            key = rows[i][0]
            if status != "pending":
                table.transition(key, "submitting", attempts=1)
                table.transition(key, "queued", response_id=f"resp_{i}")
            if status in ("in_progress", "completed"):
                table.transition(key, "in_progress")
            if status == "completed":
                table.transition(key, "completed", output_text="an answer")
    record = RunRecord(
        input=None if input is None else str(input.resolve()), output=str(output), backend=backend,
        base_url=base_url, model=model, mode="poll", azure_endpoint=azure_endpoint, spec=spec or {},
    )  # fmt: skip
    write_run_record(state, record)
