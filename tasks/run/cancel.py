"""Cancelling a batch's in-flight background responses on the server, and saying what could not be.

Used by the runner as it stops, by `rowrelay cancel STATE` and by the flow's cancellation hook
(flows/cancelling.py). A response the server could not be asked about (refused connections, timeouts,
5xx) may still run and be paid for: it is counted, and each caller says so once with the last error,
not a warning per row (a batch of 10,000 in flight against a server that is down said 10,000 lines).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass

from rowrelay.tasks.errors import ResponseGoneError, StateError, TransientError
from rowrelay.tasks.llm import Backend, RequestRejectedError, Snapshot, in_background
from rowrelay.tasks.llm.structured import OutputSchema
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run.cancels_not_taken import NotTaken, said_not_taken
from rowrelay.tasks.run.context import now
from rowrelay.tasks.run.record import INTERRUPTED, ended, lost_young, made_ago
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.run.stops import Cancelled
from rowrelay.tasks.state import StateTable

CANCEL_CONCURRENCY = 32
_ASKED = {"error_type": "cancelled", "error_message": "cancelled on request"}
_INTERRUPTED = {"error_type": "interrupted", "error_message": INTERRUPTED}


EndRecorder = Callable[[str, Snapshot], None]
"""Records a response its cancel found ended, as a poll that found it so would: its usage, cost, error,
and its answer checked (a refusal, or one that breaks the schema, fails the row)."""


def end_recorder(
    table: StateTable, spend: Spend, *, max_attempts: int, output_schema: OutputSchema | None
) -> EndRecorder:
    """An `EndRecorder` for a cancel without a run (`rowrelay cancel`): priced by `spend`."""

    def record_end(key: str, snapshot: Snapshot) -> None:
        change = ended(
            snapshot, table.get(key), now(), max_attempts=max_attempts, output_schema=output_schema,
            cost=spend.priced(key, snapshot),
        )  # fmt: skip
        table.transition(key, change.status, **change.fields)

    return record_end


@dataclass
class CancelTally:
    """A cancellation's outcome so far, for a caller that stops it part way (`cancel_in_flight`)."""

    asked: int = 0  # responses it set out to cancel
    cancelled: int = 0
    settled: int = 0  # answered either way: cancelled, ended before the cancel, or gone
    unreached: int = 0
    last_error: str | None = None
    ended: int = 0  # had ended before the cancel reached them
    awaiting_tools: int = 0  # had ended asking for an agent's tools: kept for the next run
    cancelling: int = 0  # answered still going: the server cancels later

    def so_far(self) -> Cancelled:
        left = self.asked - self.settled - self.unreached
        # `left` is worked out here; `orphaned` is the batch's open's doing, `not_stopped` a Dask stop's,
        # `cut` and `waited` the runner's (creates its stop cut on the wire, or waited for)
        theirs = ("left", "orphaned", "not_stopped", "cut", "waited")
        mine = [n for n in Cancelled.counted() if n not in theirs]
        counts = {name: getattr(self, name) for name in mine}
        return Cancelled(**counts, last_error=self.last_error, left=left)


async def cancel_in_flight(
    table: StateTable,
    backend: Backend,
    scope: Collection[str] | None = None,
    *,
    record_end: EndRecorder,
    stopping: bool = False,
    emulated: bool = False,
    tally: CancelTally | None = None,
    starting: Callable[[int], None] | None = None,
) -> Cancelled:
    """Cancel every in-flight background response of the batch on the server; record the outcome.

    Cancellation is best effort and races completion: a response that finished before the cancel
    reached it stays what it became (the server answers with its final state), and is recorded so, by
    `record_end` (its tokens, cost, error; once, as the status and text alone, which left a completed
    row unpriced and a broken structured answer passed as completed). A response that completed asking
    for an agent's tools (`Snapshot.awaits_tools`) is not the row's end: its answer is the follow-up
    the tool round makes, so the row keeps its token and the next run runs the tools (recorded as the
    row's end, it was completed with empty output, its answer lost for good).
    `stopping`: the cancel comes from a run that was stopped (Ctrl-C, SIGTERM, a flow cancellation),
    which cuts its rows' work short without giving up on them, so the next run sends them again (each
    create counted against the row's attempts); a cancel asked for (`rowrelay cancel`) ends them.
    A row whose cancel did not take (not answered, refused, or answered with a response still running
    or ended asking for tools) is left saying so, not as cancelled (`said_not_taken`).
    A 404 is an expiry only on a response old enough for a server to have let it go (`record.lost_young`,
    as a poll judges it; `emulated`: the server is an emulator, whose 404s are all expiries): a younger
    one is a server that loses the responses it makes (replicas behind a load balancer), whose job may
    still run, and be paid for. Recorded expired, its row was sent again by the next run while its first
    job ran; it is counted as not reached instead, and keeps its token for the next run to wait on.
    `tally` follows the outcome as it comes, for a caller that may stop the cancellation part way;
    `starting` is told how many responses it is about to cancel.
    """
    background = in_background(backend)
    if background is None:
        return Cancelled()  # a foreground backend holds no responses to cancel
    keys = table.keys_with_status(HOLDING_TOKEN, among=scope)
    limit = asyncio.Semaphore(CANCEL_CONCURRENCY)
    tally = tally or CancelTally()
    tally.asked = len(keys)
    if starting is not None:
        starting(len(keys))

    mark = _INTERRUPTED if stopping else _ASKED
    await _marked(table, [key for key in keys if table.get(key).response_id is not None], mark)
    not_taken: dict[str, NotTaken] = {}

    async def one(key: str) -> None:
        row = table.get(key)
        if row.response_id is None:
            tally.settled += 1
            return
        async with limit:
            try:
                snapshot: Snapshot = await background.cancel(row.response_id)
            except ResponseGoneError as exc:
                if (age := lost_young(row, now(), emulated=emulated)) is not None:
                    lost = f"the server did not find it, made {made_ago(age)} ago, too young to have expired"
                    tally.unreached += 1
                    tally.last_error = f"{key} ({row.response_id}): {lost} ({exc})"
                    not_taken[key] = NotTaken(f"{lost}: its response may still run; the next run waits on it")
                    return
                gone = {"error_type": "expired", "error_message": str(exc), "note": "gone when cancelling"}
                table.transition(key, "expired", **gone)
                tally.settled += 1
                return
            except (TransientError, RequestRejectedError) as exc:  # unanswered; or refused (400, 405)
                tally.unreached, tally.last_error = tally.unreached + 1, f"{key} ({row.response_id}): {exc}"
                why = f"no answer said it took ({exc}): its response may still run; the next run collects it"
                not_taken[key] = NotTaken(why)
                return
        if snapshot.status == "cancelled":
            tally.cancelled += 1
            table.transition(key, "cancelled", **mark)
        elif snapshot.awaits_tools:  # ended: the next run runs its tools, and no cancel can reach it
            tally.awaiting_tools += 1
            ended_asking = "its response had ended asking for its agent's tools, which the next run runs"
            not_taken[key] = NotTaken(ended_asking, may_take=False)
        elif snapshot.terminal:
            tally.ended += 1
            record_end(key, snapshot)
        else:  # a server that cancels later: the row keeps its token (and its mark); a later run
            tally.cancelling += 1  # collects its end
            said = snapshot.status
            why = f"the server answered it with its response {said}; the next run collects what it became"
            not_taken[key] = NotTaken(why, status=said)
        tally.settled += 1

    await asyncio.gather(*(one(key) for key in keys))
    said_not_taken(table, not_taken, "as its run stopped" if stopping else "on request")
    table.flush()  # the answers' changes, in one write
    return tally.so_far()


async def _marked(table: StateTable, keys: list[str], mark: dict[str, str]) -> None:
    """Mark the rows with whose cancel they are about to get, durably, before any cancel goes out.

    Its answer may never be heard (a second Ctrl-C stops the cancelling, the connection drops, the process
    is killed) while the server has cancelled the response: the next run, finding it cancelled, reads the
    mark (`record.ended`), and a stop's is sent again where, unmarked, it was kept as a cancel asked for and
    never sent again. Marked either way, so a cancel asked for after a stop is not taken for the stop's.
    A mark whose cancel has not taken changes nothing else: a response that ends any other way is recorded
    as it ended (a completed row's error fields are cleared), one still running is collected by the next
    run, and once the cancels are answered its words give way to a note saying so (`said_not_taken`). One
    write for every row: marked one cancel at a time, each waited on a write of its own
    (32 at once), hundreds of writes for a stop of 10,000 rows in flight while the user waited."""
    for key in keys:
        table.update(key, **mark)
    # Cancelling the paid job matters more than the mark's write: a failed write leaves the mark for the
    # final flush, which raises the same failure if it lasts.
    with contextlib.suppress(OSError, StateError):
        await table.commit(urgent=True)
