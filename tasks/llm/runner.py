"""The per-shard runner: resume what holds a token, then submit the rest, concurrently, checkpointed.

    driver = RowDriver(table, backend, budget, policy, prompts)
    report = await BatchRunner(driver).run(keys)

Rows holding a continuation token are resumed first (poll, or stream from the saved cursor); then
new, orphaned, expired and retryable failed rows are submitted under the rate budget. A background
checkpointer group-commits changes; a progress callback sees counts as they move. Cancelling the run
(Ctrl-C, a flow cancellation) cancels the batch's in-flight responses on the server before it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from rowrelay.tasks.errors import ResponseGoneError, TransientError
from rowrelay.tasks.llm.calls import Backend, BackendRefusedError, Snapshot
from rowrelay.tasks.llm.row import RowDriver, RunCounters
from rowrelay.tasks.records import IN_FLIGHT, RowStatus
from rowrelay.tasks.state import StateTable

log = logging.getLogger("rowrelay.runner")
_RETRYABLE: tuple[RowStatus, ...] = ("pending", "orphaned", "expired", "failed")
_CANCEL_CONCURRENCY = 32


@dataclass(frozen=True)
class Progress:
    """A moment of a run, for progress bars and artifacts."""

    counts: dict[RowStatus, int]
    total: int
    elapsed: float
    counters: RunCounters

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("completed", "failed", "incomplete", "cancelled"))

    @property
    def in_flight(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("submitting", "queued", "in_progress"))


@dataclass
class RunReport:
    counts: dict[RowStatus, int]
    counters: RunCounters
    elapsed: float
    cancelled: int = 0
    crashed_rows: list[str] = field(default_factory=list)


@dataclass
class BatchRunner:
    driver: RowDriver
    progress: Callable[[Progress], None] | None = None
    progress_interval: float = 0.5
    checkpoint_interval: float = 0.2

    async def run(self, keys: Iterable[str] | None = None) -> RunReport:
        table, driver = self.driver.table, self.driver
        scope = None if keys is None else set(keys)
        started = time.monotonic()
        resume = _in_scope(table.keys_with_status(IN_FLIGHT), scope)
        fresh = [
            k
            for k in _in_scope(table.keys_with_status(_RETRYABLE), scope)
            if driver.wants_submit(table.get(k))
        ]
        total = len(table)  # progress is the batch's, shards included: counts cover the whole table
        crashed: list[str] = []
        background = asyncio.create_task(self._housekeeping(total, started))
        try:
            await self._drive_all([*resume, *fresh], crashed)
        except asyncio.CancelledError:
            cancelled = await asyncio.shield(cancel_in_flight(table, driver.backend, scope))
            log.warning("run cancelled: %d in-flight responses cancelled on the server", cancelled)
            raise
        finally:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
            table.flush()
            self._report_progress(total, started)
        counts = {status: n for status, n in table.counts().items() if n}
        return RunReport(counts, driver.counters, time.monotonic() - started, 0, crashed)

    async def _drive_all(self, keys: list[str], crashed: list[str]) -> None:
        gate = self.driver.budget.in_flight

        async def one(key: str) -> None:
            try:
                await self.driver.drive(key)
            except BackendRefusedError:
                raise  # about the run, not the row: stop everything
            except Exception as exc:
                # A bug or surprise in one row must not take the batch down: record it on the row.
                log.exception("row %s crashed", key)
                crashed.append(key)
                self.driver.table.transition(
                    key, "failed", error_type="internal", error_message=f"{type(exc).__name__}: {exc}"
                )
            finally:
                gate.release()

        try:
            async with asyncio.TaskGroup() as group:
                for key in keys:
                    await gate.acquire()
                    group.create_task(one(key), name=f"row:{key}")
        except BaseExceptionGroup as group:
            # Only run-level errors get here (rows record their own); surface the first one plainly.
            raise group.exceptions[0] from None

    async def _housekeeping(self, total: int, started: float) -> None:
        next_progress = 0.0
        while True:
            await asyncio.sleep(self.checkpoint_interval)
            await self.driver.table.maybe_commit()
            if time.monotonic() >= next_progress:
                self._report_progress(total, started)
                next_progress = time.monotonic() + self.progress_interval

    def _report_progress(self, total: int, started: float) -> None:
        if self.progress is not None:
            counts = self.driver.table.counts()
            self.progress(Progress(counts, total, time.monotonic() - started, self.driver.counters))


async def cancel_in_flight(table: StateTable, backend: Backend, scope: Collection[str] | None = None) -> int:
    """Cancel every in-flight background response of the batch on the server; record the outcome.

    Cancellation is best effort and races completion (PROTOCOL P7): a response that finished first is
    recorded as what it became, not as cancelled.
    """
    if not backend.background:
        return 0
    keys = _in_scope(table.keys_with_status(IN_FLIGHT), None if scope is None else set(scope))
    limit = asyncio.Semaphore(_CANCEL_CONCURRENCY)
    cancelled = 0

    async def one(key: str) -> None:
        nonlocal cancelled
        row = table.get(key)
        if row.response_id is None:
            return
        async with limit:
            try:
                snapshot: Snapshot = await backend.cancel(row.response_id)
            except ResponseGoneError:
                table.transition(key, "expired", error_type="expired", note="gone when cancelling")
                return
            except TransientError as exc:
                log.warning("could not cancel %s (%s): %s", key, row.response_id, exc)
                return
        if snapshot.status == "cancelled":
            cancelled += 1
            table.transition(key, "cancelled", error_type="cancelled", error_message="cancelled on request")
        elif snapshot.terminal:
            table.transition(key, snapshot.status, output_text=snapshot.output_text)

    await asyncio.gather(*(one(key) for key in keys))
    table.flush()
    return cancelled


def _in_scope(keys: Iterable[str], scope: set[str] | None) -> list[str]:
    return [k for k in keys if scope is None or k in scope]
