"""Two ways a wait ends that the row's state records, not a snapshot: the response gone from the server,
or stuck in its queue past the deadline (`Waiter` in `run.wait`)."""

from __future__ import annotations

from rowrelay.tasks.errors import ResponseGoneError, TransientError
from rowrelay.tasks.llm import BackendRefusedError, BackgroundBackend, RequestRejectedError, Snapshot
from rowrelay.tasks.run import record
from rowrelay.tasks.run.context import RowContext, now


def gone(context: RowContext, key: str, exc: ResponseGoneError) -> None:
    """The server no longer holds the row's response: expired, sent again by policy. Unless it is too
    young for any server to have let it go (`record.unfound`): then the server does not find what it
    makes, and every row would be created, and paid for, again. The run stops instead, as for a
    refused key: rows keep their response ids. (Not on an emulator: what it loses costs nothing, and a
    restarted embedded emulator has lost every response it held.)"""
    row = context.table.get(key)
    said = record.unfound(row, str(exc), now(), emulated=context.policy.emulated)
    if said is not None:
        raise BackendRefusedError(said, way_on=record.unfound_way_on())
    context.apply(key, record.expired(str(exc)))


async def cancel_if_stuck(
    context: RowContext, backend: BackgroundBackend, key: str, snapshot: Snapshot, elapsed: float
) -> bool:
    """A response queued far too long (`elapsed` seconds since it was made) is cancelled and the row
    failed for retry: a server that never starts a job would otherwise hold the row (and its in-flight
    slot) for ever. A cancel that does not take (some servers cannot cancel) leaves a job that may yet
    run, which the row sent again counts (`record.stuck`). False if the cancel finds the response ended
    meanwhile: the next look has it."""
    policy = context.policy
    if snapshot.status != "queued" or elapsed < policy.queued_timeout:
        return False
    assert snapshot.response_id is not None
    try:
        cancelled = await backend.cancel(snapshot.response_id)
    except (TransientError, ResponseGoneError, RequestRejectedError) as exc:
        not_cancelled: str | None = str(exc)
    else:
        if cancelled.terminal and cancelled.status != "cancelled":
            return False
        not_cancelled = None if cancelled.terminal else f"the response is still {cancelled.status}"
    row = context.table.get(key)
    context.apply(key, record.stuck(row, elapsed, not_cancelled, now(), max_attempts=policy.max_attempts))
    return True
