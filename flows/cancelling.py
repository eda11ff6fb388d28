"""Cancel a batch's in-flight background responses on the server, from its state directory alone.

Used by `rowrelay cancel STATE` and by the flow's `on_cancellation` hook: a Prefect cancellation ends
the flow with a termination signal rather than an asyncio cancellation, so the runner's own
cancel-on-CancelledError path never runs; the hook is what reaches the server.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm import make_backend
from rowrelay.tasks.run import cancel_in_flight
from rowrelay.tasks.settings import load_settings
from rowrelay.tasks.state import StateTable, read_run_record


async def cancel_batch_async(state_dir: Path) -> int:
    """Cancel the in-flight responses on the backend the last run used; a damaged run record is a
    `StateError` naming it."""
    record = read_run_record(state_dir)
    if record is None:
        raise UsageError(f"{state_dir}: this batch never ran, so nothing is in flight")
    settings = load_settings(backend=record.backend, base_url=record.base_url, model=record.model)
    backend = make_backend(settings, base_url=record.base_url)
    try:
        with StateTable.open(state_dir) as table:
            return await cancel_in_flight(table, backend)
    finally:
        await backend.aclose()


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
