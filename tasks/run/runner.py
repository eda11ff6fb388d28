"""The per-shard runner: resume what holds a token, then submit the rest, concurrently, checkpointed.

    report = await BatchRunner(RowDriver(context)).run(keys)      # or: open_session(...).runner

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from rowrelay.tasks.errors import BankUnreachableError, LeaseHeldError
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.llm.shared import SharedSlots
from rowrelay.tasks.records import ENDED, HOLDING_TOKEN
from rowrelay.tasks.run.cancel import CANCEL_CONCURRENCY, CancelTally, cancel_in_flight
from rowrelay.tasks.run.driver import RowDriver
from rowrelay.tasks.run.frozen_heap import heap_frozen
from rowrelay.tasks.run.outage import watch_for_outage
from rowrelay.tasks.run.pace import Pace
from rowrelay.tasks.run.plan import send_order
from rowrelay.tasks.run.progress import Progress, RunReport
from rowrelay.tasks.run.projection import EndedRows
from rowrelay.tasks.run.stops import Cancelled, said_on_stop, stops_seen
from rowrelay.tasks.state_folder_errors import StateWriteError

log = logging.getLogger("rowrelay.runner")

ABOUT_THE_RUN: tuple[type[Exception], ...] = (StateWriteError, LeaseHeldError, BankUnreachableError)
"""Errors a row's drive may raise that are the run's, not the row's: the state table cannot be made
durable (a full disk; the batch's lease lost to another runner, raised by the commit every row waits on)
or the run's shared budget is gone. They go up and stop the run; handled as a row's crash, a lost lease
was recorded on every row waiting on a commit, a `submitting` row counted an attempt and an orphan for a
create that never left, and its first 5 rows stopped the run as a bug that crashes every row alike. Not
every `RunStoppingError`: an `IllegalTransition`, or a counter that would decrease (`StateError`), is one
row's change refused, a bug of that row's, which fails it alone."""


@dataclass
class BatchRunner:
    driver: RowDriver
    progress: Callable[[Progress], None] | None = None
    progress_interval: float = 0.5
    checkpoint_interval: float = 0.2
    halted: bool = field(default=False, init=False)
    """Set when another shard of the run met an error about the whole run (a refused key, an outage, a
    state table that cannot be written: `flows.targets.run_shards`). The cancellation that follows stops
    this runner's shards as that error stopped its own: their responses go on, and keep their ids."""
    _shards: dict[int, set[str] | None] = field(default_factory=dict, init=False)  # keys of shards under way
    _stopping: int = field(default=0, init=False)
    """Shards cancelling their rows as the run stops, each its own once its rows' tasks have ended, the
    stop said once (a line a shard, a run of --max-in-flight 10000 said it eleven times); `_stopped` sums."""
    _stopped: Cancelled = field(default_factory=Cancelled, init=False)
    _ended: EndedRows | None = field(default=None, init=False)
    """The rows the progress line's projection takes as ended, built on its first report."""

    @property
    def pace(self) -> Pace:
        """Where this runner's rows stand, shards run at once included (`run.pace`)."""
        return self.driver.context.pace

    async def run(self, keys: Iterable[str] | None = None) -> RunReport:
        context = self.driver.context
        table = context.table
        scope = None if keys is None else set(keys)
        started = time.monotonic()
        order = send_order(table, context.policy, scope)
        self.driver.hold_in_flight(scope)
        total = len(table)  # progress is the batch's, shards included: counts cover the whole table
        crashed: list[str] = []
        shard = id(order)
        self._shards[shard] = scope
        background = asyncio.create_task(self._housekeeping(total, started))
        try:
            with heap_frozen():
                await self._drive_all(order, crashed)
        except Exception:
            raise  # about the run (a refused key): its responses go on, and the next run waits on them
        except BaseException as stop:
            # Stopped: cancelled (Ctrl-C, a flow cancellation), or by a signal raised as an exception
            # wherever it landed. Prefect raises SIGTERM as one from its handler, so it can surface in a
            # row's poll, and reach here instead of the loop; the run's work is cancelled either way,
            # unless the cancellation is another shard's run-level error stopping this one (`halted`).
            cancelled = isinstance(stop, asyncio.CancelledError)
            if not (cancelled and self.halted):
                how = "cancelled" if cancelled else f"stopped ({type(stop).__name__})"
                await self._cancel_in_flight(how, scope)
            raise
        finally:
            del self._shards[shard]
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
            table.flush()
            self.report_progress(total, started, last=True)
        counts = {status: n for status, n in table.counts().items() if n}
        return RunReport(counts, context.counters, time.monotonic() - started, 0, crashed)

    async def _cancel_in_flight(self, how: str, scope: set[str] | None) -> None:
        """Cancel the run's responses on the server as it stops, and say what that did. Thousands in flight
        take a while to cancel (32 at a time), so a person may stop the run again meanwhile: the
        cancelling then stops too, and the rows it did not reach keep their response ids (their
        responses may run on, and be paid for; the next run waits on them), said as such rather than
        not at all."""
        context = self.driver.context
        first = self._stopping == 0  # the stop's first shard says it, for every shard under way
        self._stopping += 1

        def starting(held: int) -> None:
            held = max(held, self._held()) if first else 0
            if held > CANCEL_CONCURRENCY:  # more than one round: long enough to be stopped again
                log.warning(
                    "run %s: cancelling %s on the server; stopping again leaves the rest running",
                    how, f"{held:,} in-flight responses",
                )  # fmt: skip

        tally = CancelTally()
        cancelling = asyncio.ensure_future(
            cancel_in_flight(
                context.table,
                context.backend,
                scope,
                record_end=self.driver.record_end,
                stopping=True,
                emulated=context.policy.emulated,
                tally=tally,
                starting=starting,
            )
        )
        cancelled = Cancelled()
        try:
            cancelled = await asyncio.shield(cancelling)
        except BaseException:
            cancelling.cancel()  # no change to the table once the run has let go of it
            await asyncio.wait([cancelling])
            cancelled = tally.so_far()
            raise
        finally:
            self._stopping -= 1
            context = self.driver.context
            cut, waited = _mine(context.cut_on_stop, scope), _mine(context.waited_on_stop, scope)
            self._say_stopped(how, replace(cancelled, cut=cut, waited=waited))

    def _held(self) -> int:
        """Rows holding a response id in this runner's shards under way: what their stop cancels."""
        scopes = list(self._shards.values())
        among = None if None in scopes else {key for keys in scopes if keys is not None for key in keys}
        return len(self.driver.context.table.keys_with_status(HOLDING_TOKEN, among=among))

    def _say_stopped(self, how: str, cancelled: Cancelled) -> None:
        """Hand a shard's stop to the CLI's closing line; log the stop's sum once its last shard ends."""
        if (seen := stops_seen.get()) is not None:
            seen.append(cancelled)
        self._stopped += cancelled
        if self._stopping == 0:
            _log_stopped(how, self._stopped)
            self._stopped = Cancelled()

    async def _drive_all(self, keys: list[str], crashed: list[str]) -> None:
        context = self.driver.context
        gate, pace = context.budget.in_flight, self.pace
        unstarted = len(keys)
        pace.unstarted += unstarted  # one pace for every shard this session runs at once
        running, rows_done = 0, asyncio.Event()

        async def one(key: str) -> None:
            nonlocal running
            try:
                await self.driver.drive(key)
            except BackendRefusedError as exc:  # about the run, not the row: stop everything
                if context.endpoint is None:
                    raise
                # One of several endpoints (one key of several): say which, or the user cannot tell.
                raise exc.naming(f"endpoint {context.endpoint!r}") from exc
            except ABOUT_THE_RUN:
                raise
            except Exception as exc:
                # A bug or surprise in one row must not take the batch down: record it on the row, its
                # words masked of the run's keys first (they go to the row, the output and the log);
                # unless every row crashes alike, which stops the run as a refused key does.
                secrets = await self.driver.masked(exc)
                crashed.append(key)
                if (stop := self.driver.crashed(key, exc, secrets)) is not None:
                    raise stop from exc
            else:
                self.driver.crashes.ended()
            finally:
                gate.release()
                running -= 1
                if running == 0:
                    rows_done.set()

        try:
            async with asyncio.TaskGroup() as group:
                # Its OutageError stops the group as a refused key does: rows keep their tokens.
                give_up_after = context.policy.give_up_after
                watch = (
                    group.create_task(watch_for_outage(context.silence, give_up_after, context.endpoint))
                    if give_up_after > 0
                    else None
                )
                for key in keys:
                    pace.slot_waits += 1  # rows now waiting would start sooner if a slot were freed
                    try:
                        await gate.acquire()
                    finally:
                        pace.slot_waits -= 1
                    pace.unstarted -= 1
                    unstarted -= 1
                    running += 1
                    rows_done.clear()
                    group.create_task(one(key), name=f"row:{key}")
                if isinstance(gate, SharedSlots):
                    gate.spare()  # all started: the rest of the last row's chunk goes back to the bank
                if running:
                    await rows_done.wait()
                if watch is not None:
                    watch.cancel()
        except BaseExceptionGroup as group:
            # Only run-level errors get here (rows record their own); surface the first one plainly.
            stopped = group.exceptions[0]
        else:
            return
        finally:
            pace.unstarted -= unstarted  # a run stopped early leaves none counted
        # Raised here, not in the handler, where it would take the group as its context: the group holds
        # it, and that cycle sent tblib's pickling (which Dask installs for a shard's error) into endless
        # recursion, so the coordinator got a serialization error instead of the error itself.
        raise stopped

    async def _housekeeping(self, total: int, started: float) -> None:
        next_progress = 0.0
        while True:
            await asyncio.sleep(self.checkpoint_interval)
            await self.driver.context.table.maybe_commit()
            if time.monotonic() >= next_progress:
                self.report_progress(total, started)
                next_progress = time.monotonic() + self.progress_interval

    def report_progress(self, total: int, started: float, *, last: bool = False) -> None:
        """Say where the run stands; `last`, as it ends (its projection asked afresh: `run.projection`)."""
        if self.progress is not None:
            context, spend = self.driver.context, self.driver.context.spend
            counts = context.table.counts()
            # A row a stop cancelled is not ended while the run sends it again (by its attempts), as
            # `status` counts it: right after Ctrl-C the projection said `spent $X of ~$X`
            if self._ended is None:
                self._ended = EndedRows(context.table, context.policy.max_attempts)
            ended = self._ended(counts, fresh=last)
            money: tuple[float | None, float | None] = (None, None)
            if spend.known:
                money = spend.ledger.spent, spend.projected(total, ended)
            again = sum(counts.get(status, 0) for status in ENDED) - ended
            elapsed = time.monotonic() - started
            self.progress(Progress(counts, total, elapsed, context.counters, *money, sent_again=again))


def _mine(keys: set[str], scope: set[str] | None) -> int:
    """How many of `keys` (rows a stop cut, or waited for: `submit`) are this shard's, each said once."""
    mine = set(keys) if scope is None else keys & scope
    keys -= mine
    return len(mine)


def _log_stopped(how: str, cancelled: Cancelled) -> None:
    """Log what a stopping run did to its work on the server, in the words the CLI's closing line and
    `rowrelay cancel` use (`said_on_stop`). A stop with nothing in flight says nothing: beside another
    endpoint's count, its `nothing was in flight` read as a contradiction."""
    if cancelled != Cancelled():
        waits = "; the next run waits on them" if cancelled.unreached or cancelled.left else ""
        log.warning("run %s: %s%s", how, said_on_stop([cancelled]), waits)
