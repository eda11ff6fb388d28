"""When a run on a Dask cluster stops waiting for workers that are gone (`dask_no_workers_after`).

The coordinator waits on its shards' futures, and Dask keeps a task with no worker to run it waiting for
one for ever: twice under load a `--dask-workers` cluster lost every worker (their nannies gone with
them) and the run sat at 0 of 120 rows until the test's 400 s timeout, holding its batch's lease, saying
nothing. So while its shards run, the coordinator asks the scheduler for a running worker
(`Client.wait_for_workers`, which counts the workers the scheduler holds as running); once it has had
none for the bound, the run stops with `WorkersGoneError`, its rows as a killed run leaves them, for the
same command to resume. Workers that come back within the bound (a nanny restarting its worker, an
adaptive cluster scaling up) are waited for, and the progress line says so meanwhile.

`NoWorkers` is the one decision (since when none, how long is left, whether that is past the bound),
on a clock given to it, so a test drives it without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rowrelay.tasks.errors import WorkersGoneError, seconds_said
from rowrelay.tasks.llm.holds import Hold

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger("rowrelay.cluster")

_LOOKS = 10
"""Looks within the bound: the run stops at most a tenth of it (or `_LONGEST_LOOK`) late."""
_LONGEST_LOOK = 2.0
"""Seconds between looks at most: each is one call to the scheduler, whose answer lists every worker."""
_SHORTEST_LOOK = 0.1
"""`wait_for_workers` takes a timeout of 0 as none: never less than this."""
_CANCELLED_WITHIN = 10.0
"""Seconds the stop waits for the shards' futures, cancelled, to end the thread waiting on them."""


@dataclass
class NoWorkers:
    """Since when the cluster has had no running worker, and whether the run stops for it."""

    bound: float
    """Seconds without a worker before the run stops; 0 waits for ever."""
    since: float | None = None
    """When a look first found none (None: the last look found one)."""

    def saw(self, workers: bool, now: float) -> None:
        if workers:
            self.since = None
        elif self.since is None:
            self.since = now

    def over(self, now: float) -> bool:
        return self.bound > 0 and self.since is not None and now - self.since >= self.bound

    def held(self, now: float) -> Hold | None:
        """What the progress line says while there is no worker: the wait left (infinite: for ever)."""
        if self.since is None:
            return None
        left = math.inf if self.bound == 0 else max(0.0, self.bound - (now - self.since))
        return Hold("workers", left, "no Dask worker is running")

    @property
    def look(self) -> float:
        """Seconds between looks at the scheduler."""
        if self.bound == 0:
            return _LONGEST_LOOK
        return max(_SHORTEST_LOOK, min(_LONGEST_LOOK, self.bound / _LOOKS))


async def results_while_workers(
    client: Client,
    futures: Sequence[Any],
    gone: NoWorkers,
    clock: Callable[[], float] = time.monotonic,
) -> list[Any]:
    """Every future's result (Prefect's futures of the shards' task runs), in order, the first failure
    raised; `WorkersGoneError` once the cluster has had no running worker for `gone.bound`, the futures
    then cancelled on the scheduler, so the thread waiting on them ends."""
    waiting = asyncio.ensure_future(asyncio.to_thread(lambda: [future.result() for future in futures]))
    watching = asyncio.create_task(_watch(client, gone, clock))
    try:
        await asyncio.wait({waiting, watching}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():  # the watch raised: no worker within the bound
            wrapped = [future.wrapped_future for future in futures]
            await asyncio.to_thread(client.cancel, wrapped)
            # Their results raise now (cancelled), retrieved unsaid: the stop says what happened. Not
            # awaited for ever: a scheduler that took no cancel leaves them to the client's close.
            await asyncio.wait({waiting}, timeout=_CANCELLED_WITHIN)
            if waiting.done() and not waiting.cancelled():
                waiting.exception()
            watching.result()
        return waiting.result()
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching


async def _watch(client: Client, gone: NoWorkers, clock: Callable[[], float]) -> None:
    """Return never; raise `WorkersGoneError` once `gone` says so. Each look is Dask's own wait for a
    running worker, at most `gone.look` long: at once while there is one (the run then looks again after
    that long), the whole time while there is none. A wait in a thread cannot be cancelled, so it is cut
    into looks: a run that ends meanwhile is not held a whole bound."""
    while True:
        try:
            await asyncio.to_thread(client.wait_for_workers, 1, timeout=gone.look)
            workers = True
        except TimeoutError:
            workers = False
        except Exception as exc:  # the scheduler busy or restarting: a look that says nothing
            log.debug("could not ask the scheduler for its workers: %s", exc)
            await asyncio.sleep(gone.look)
            continue
        now, since = clock(), gone.since
        gone.saw(workers, now)
        if gone.over(now):
            raise WorkersGoneError(gone.bound)
        if not workers and since is None:
            wait = "for ever" if gone.bound == 0 else f"up to {seconds_said(gone.bound)}"
            log.warning(
                "the Dask cluster has no running worker: its shards wait for one to join, %s "
                "(ROWRELAY_DASK_NO_WORKERS_AFTER sets how long)",
                wait,
            )
        elif workers and since is not None:
            log.warning(
                "a Dask worker is running again after %s: the shards go on", seconds_said(round(now - since))
            )
        if workers:
            await asyncio.sleep(gone.look)
