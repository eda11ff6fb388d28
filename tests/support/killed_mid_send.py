"""A batch as a run killed while creates were on the wire leaves it, on a live emulator: some rows
holding their response ids, others written `submitting` whose create reached the server (a job runs) but
whose id was never kept; its run record names the emulator, as `rowrelay cancel` and `status` read it."""

from __future__ import annotations

from pathlib import Path

from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import RunRecord, write_run_record
from tests.support.runs import left_in_flight, new_table, prompts


async def killed_mid_send(
    state: Path, url: str, *, held: int, sending: int, output: Path, max_attempts: int | None = None
) -> list[str]:
    """The batch at `state`: `held` rows holding ids of jobs on the emulator at `url`, then `sending`
    rows left `submitting` with their jobs started there; returns the latter's keys. `max_attempts`: what
    its run.json records (None: a record of a release before it did)."""
    table = new_table(state, held + sending)
    asked = prompts(held + sending)
    requests = [RowRequest(key, asked[key], None, "gpt-4.1-mini", {"rowrelay_row": key}) for key in asked]
    await left_in_flight(table, url, requests[:held])
    backend = make_backend(Settings(backend="emulator", base_url=url))
    try:
        for request in requests[held:]:  # written `submitting`, created, killed before the id was kept
            table.transition(request.row_key, "submitting")
            await backend.create(request)
    finally:
        await backend.aclose()
    table.close()
    record = RunRecord(
        output=str(output), backend="emulator", base_url=url, model="gpt-4.1-mini", mode="poll",
        max_attempts=max_attempts,
    )  # fmt: skip
    write_run_record(state, record)
    return [request.row_key for request in requests[held:]]
