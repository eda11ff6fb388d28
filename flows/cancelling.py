"""Cancel a batch's in-flight background responses on the server, from its state directory alone.

Used by `rowrelay cancel STATE` and by the flow's `on_cancellation` hook, which reaches the server when
the batch's own runner could not (its process killed before it cancelled its rows).

A batch run with several endpoints is cancelled endpoint by endpoint: each row holding a token on the
endpoint that created it (the state table's `endpoint` column), reached with the entry run.json recorded
(its key read again from the variable it names). Every endpoint is resolved before any cancel is sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rowrelay.flows.backends import with_embedded_key
from rowrelay.tasks.errors import LeaseHeldError, UsageError
from rowrelay.tasks.llm import make_backend
from rowrelay.tasks.llm.prices import load_prices
from rowrelay.tasks.llm.structured import load_output_schema
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run import Cancelled, cancel_in_flight
from rowrelay.tasks.run.cancel import end_recorder
from rowrelay.tasks.run.endpoints import load_endpoints
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.setting_problems import said_as
from rowrelay.tasks.settings import Settings, load_settings
from rowrelay.tasks.state import RunRecord, StateTable, read_run_record
from rowrelay.tasks.state.batch_policies import next_run_policies

_LEASE_LOOK = 0.2
"""Seconds between looks at a batch whose runner is letting go of it (`lease_wait`)."""


async def cancel_batch_async(
    state_dir: Path,
    *,
    lease_wait: float = 0.0,
    stopping: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Cancelled:
    """Cancel the in-flight responses on the backend the last run used; a damaged run record is a
    `StateError` naming it. A live runner holding the batch is `LeaseHeldError` at once, or after
    `lease_wait` seconds for a caller that knows the runner is stopping. `stopping`: for a run that was
    stopped, whose rows the next run sends again (`cancel_in_flight`)."""
    record = read_run_record(state_dir)
    if record is None:
        raise UsageError(f"{state_dir}: this batch never ran, so nothing is in flight")
    tools = None if record.tools is None else json.dumps(record.tools)
    given = {"backend": record.backend, "base_url": record.base_url, "model": record.model, "tools": tools}
    # The batch's own creates per row and orphan policy, as `status` reads them (`next_run_policies`): the
    # cancel notes on the rows it makes orphans what the batch's next run does with them, not what this
    # shell's ROWRELAY_MAX_ATTEMPTS or ROWRELAY_ORPHAN_POLICY would have a run started here do.
    settings = next_run_policies(load_settings(**given), record)
    # No `--prices` here: a price file comes from the environment, and is named so when it is not valid.
    prices = load_prices(settings.prices, named=said_as("prices", given))
    endpoints = {name: with_embedded_key(where) for name, where in _endpoints(record, settings).items()}
    schema = None if record.output_schema is None else load_output_schema(record.output_schema)
    with await _open_when_free(state_dir, settings, lease_wait, sleep, clock) as table:
        # A killed run's rows caught being sent became orphans as the table opened: their jobs, if any
        # started, run on where no cancel reaches them, and are said with what the cancel did.
        cancelled = Cancelled(orphaned=table.orphaned_at_open)
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
            # A response found ended is recorded as a poll would: priced, its answer checked.
            spend = Spend.open(where, pricing_only=True, prices=prices)
            record_end = end_recorder(table, spend, max_attempts=where.max_attempts, output_schema=schema)
            try:
                cancelled += await cancel_in_flight(
                    table,
                    backend,
                    keys,
                    record_end=record_end,
                    stopping=stopping,
                    emulated=where.backend == "emulator",  # as a run's `RowPolicy.emulated`
                )
            finally:
                await backend.aclose()
    return cancelled


async def _open_when_free(
    state_dir: Path,
    settings: Settings,
    wait: float,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
) -> StateTable:
    deadline = clock() + wait
    while True:
        try:
            # The orphans it makes are noted as a run here treats them (held, under hold)
            return StateTable.open(
                state_dir, orphan_policy=settings.orphan_policy, max_attempts=settings.max_attempts
            )
        except LeaseHeldError:
            if clock() >= deadline:
                raise
        await sleep(_LEASE_LOOK)


def _endpoints(record: RunRecord, settings: Settings) -> dict[str | None, Settings]:
    """Each endpoint's settings by name (None: the run's own), for rows made without endpoints too."""
    found: dict[str | None, Settings] = {None: settings}
    if record.endpoints:
        for endpoint in load_endpoints(record.endpoints, settings):
            found[endpoint.name] = endpoint.settings
    return found


def cancel_batch(state_dir: Path) -> Cancelled:
    """Synchronous, safe to call from inside a running event loop (it runs in its own thread)."""
    result: list[Cancelled] = []
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
