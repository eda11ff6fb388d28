"""Cancel a batch's in-flight background responses on the server, from its state directory alone.

Used by `rowrelay cancel STATE` and by the flow's `on_cancellation` hook: a Prefect cancellation ends
the flow with a termination signal rather than an asyncio cancellation, so the runner's own
cancel-on-CancelledError path never runs; the hook is what reaches the server.

A batch run with several endpoints is cancelled endpoint by endpoint: each row holding a token on the
endpoint that created it (the state table's `endpoint` column), reached with the entry run.json recorded
(its key read again from the variable it names). Every endpoint is resolved before any cancel is sent.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm import make_backend
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run import cancel_in_flight
from rowrelay.tasks.run.endpoints import load_endpoints
from rowrelay.tasks.settings import Settings, load_settings
from rowrelay.tasks.state import RunRecord, StateTable, read_run_record


async def cancel_batch_async(state_dir: Path) -> int:
    """Cancel the in-flight responses on the backend the last run used; a damaged run record is a
    `StateError` naming it."""
    record = read_run_record(state_dir)
    if record is None:
        raise UsageError(f"{state_dir}: this batch never ran, so nothing is in flight")
    settings = load_settings(backend=record.backend, base_url=record.base_url, model=record.model)
    endpoints = _endpoints(record, settings)
    cancelled = 0
    with StateTable.open(state_dir) as table:
        created_on = table.columns(HOLDING_TOKEN, ("row_key", "endpoint")).to_pylist()
        on: dict[str | None, set[str]] = {}
        for row in created_on:
            on.setdefault(row["endpoint"], set()).add(row["row_key"])
        unknown = sorted(str(name) for name in on if name not in endpoints)
        if unknown:
            raise UsageError(
                f"{state_dir}: rows hold responses on endpoint(s) {', '.join(unknown)}, which the last run "
                "did not list, so they cannot be reached from here"
            )
        for name, keys in on.items():
            where = endpoints[name]
            backend = make_backend(where, base_url=where.base_url)
            try:
                cancelled += await cancel_in_flight(table, backend, keys)
            finally:
                await backend.aclose()
    return cancelled


def _endpoints(record: RunRecord, settings: Settings) -> dict[str | None, Settings]:
    """Each endpoint's settings by name (None: the run's own), for rows made without endpoints too."""
    found: dict[str | None, Settings] = {None: settings}
    if record.endpoints:
        for endpoint in load_endpoints(record.endpoints, settings):
            found[endpoint.name] = endpoint.settings
    return found


def cancel_batch(state_dir: Path) -> int:
    """Synchronous, safe to call from inside a running event loop (it runs in its own thread)."""
    result: list[int] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(cancel_batch_async(state_dir)))
        except BaseException as exc:  # handed back to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=work, name="rowrelay-cancel")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
