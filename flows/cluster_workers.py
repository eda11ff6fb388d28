"""When a run on a Dask cluster stops waiting for workers that are gone (`dask_no_workers_after`).

The coordinator waits on its shards' futures, and Dask keeps a task with no worker to run it waiting for
one for ever: twice under load a `--dask-workers` cluster lost every worker (their nannies gone with
them) and the run sat at 0 of 120 rows until the test's 400 s timeout, holding its batch's lease, saying
nothing. So while its shards run, the coordinator asks the scheduler for a running worker
(`Client.wait_for_workers`, which counts the workers the scheduler holds as running); once it has had
none for the bound, the run stops with `WorkersGoneError`, its rows as a killed run leaves them, for the
same command to resume. Workers that come back within the bound (a nanny restarting its worker, an
adaptive cluster scaling up) are waited for, and the progress line says so meanwhile.

A scheduler gone (killed, its machine lost, the network cut) stops the run too, with
`SchedulerGoneError`: Dask's client, its connection lost, cancels the shards' futures at once and tries
to reconnect for its own timeout (`Client(timeout=...)`, `CONNECT_TIMEOUT`), then closes; the run waits
for that decision and stops on it, whichever way it goes (reconnected, the shards' tasks are gone all the
same). A scheduler that keeps its connection but answers nothing (its process stopped or hung) is a look
that fails, counted as no worker reached: past the bound the run stops. One failed look stops
nothing: before, a failed look was only logged, and such a run waited for ever.

A run's start waits for the cluster's first worker the same way (`first_worker`), by the same decision
and bound: a SLURM, PBS or adaptive cluster commonly has none until its batch system grants them,
minutes later, and the start refused such a cluster after a fixed 10 s where a run that lost its
workers mid-run waited the bound. It says at once that it waits, and for how long.

`NoWorkers` is the one decision (since when none, how long is left, whether that is past the bound, and
which stop it is), on a clock given to it, so a test drives it without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rowrelay.tasks.errors import SchedulerGoneError, WorkersGoneError, seconds_said
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
_GAVE_UP = ("closing", "closed")
"""A Dask client's statuses once it has given up reconnecting to its scheduler (its own timeout)."""
_ANSWER_WITHIN = 10.0
"""Seconds past a look's own length after which a look not yet answered counts as the scheduler not
reached (as `flows.cluster.CONNECT_TIMEOUT`, Dask's own wait for a connection): a scheduler stopped or
hung keeps its connection open and never answers, and Dask's TCP timeout
(`distributed.comm.timeouts.tcp`) does not fire while its machine's kernel acknowledges what is sent."""


@dataclass
class NoWorkers:
    """Since when the cluster has had no running worker the run reaches, and whether the run stops for it."""

    bound: float
    """Seconds without a worker before the run stops; 0 waits for ever."""
    since: float | None = None
    """When a look first found none (None: the last look found one)."""
    unreached: bool = False
    """The last look could not reach the scheduler at all (else: it found no worker)."""
    client: str = "running"
    """The Dask client's status at the last look: "connecting" while it reconnects to a scheduler whose
    connection it lost, "closing" and "closed" once it gave up (its own timeout): nothing comes back."""
    dropped: bool = False
    """Dask cancelled the shards' futures, its connection to the scheduler lost: no result will come."""

    def saw(self, workers: bool | None, now: float, client: str = "running") -> None:
        """A look's finding: a running worker (True), none (False), the scheduler not reached (None)."""
        self.client = client
        if workers:
            self.since, self.unreached = None, False
            return
        if self.since is None:
            self.since = now
        self.unreached = workers is None

    def over(self, now: float) -> bool:
        if self.client in _GAVE_UP or (self.dropped and self.client != "connecting"):
            return True  # Dask's own decision, whatever the bound: it will not give the shards back
        return self.bound > 0 and self.since is not None and now - self.since >= self.bound

    def stop(self, address: str, gave_up_after: float) -> WorkersGoneError:
        """The error the run stops with, once `over`."""
        scheduler = f"the Dask scheduler at {address}"
        if self.client in _GAVE_UP:
            after = seconds_said(gave_up_after)
            why = f"the connection to it was lost and Dask's client gave up reconnecting after {after}"
            return SchedulerGoneError(address, f"{scheduler} cannot be reached: {why}", gave_up_after)
        if self.dropped:
            why = (
                f"the connection to {scheduler} was lost mid-run, and Dask dropped the shards' tasks with it"
            )
            return SchedulerGoneError(address, why, 0.0)
        if self.unreached:
            setting = "ROWRELAY_DASK_NO_WORKERS_AFTER sets how long a run waits for it"
            why = f"it has not answered for {seconds_said(self.bound)} ({setting})"
            return SchedulerGoneError(address, f"{scheduler} cannot be reached: {why}", self.bound)
        return WorkersGoneError(self.bound)

    def held(self, now: float) -> Hold | None:
        """What the progress line says while there is no worker: the wait left (infinite: for ever)."""
        if self.since is None:
            return None
        left = math.inf if self.bound == 0 else max(0.0, self.bound - (now - self.since))
        if self.unreached:
            return Hold("workers", left, "no Dask worker can be reached (the scheduler does not answer)")
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
    then cancelled on the scheduler, so the thread waiting on them ends; `SchedulerGoneError` once the
    scheduler cannot be reached (`NoWorkers.over`)."""
    waiting = asyncio.ensure_future(asyncio.to_thread(_results, futures))
    address = str(getattr(client.scheduler, "address", "?"))  # here: a closed client forgets it
    watching = asyncio.create_task(_watch(client, address, gone, clock))
    try:
        await asyncio.wait({waiting, watching}, return_when=asyncio.FIRST_COMPLETED)
        if waiting.done() and isinstance(waiting.exception(), _Dropped):
            gone.dropped = True  # the watch says what became of the scheduler, Dask's client deciding
            await watching
        if not waiting.done():  # the watch raised: no worker within the bound
            wrapped = [future.wrapped_future for future in futures]
            # A scheduler gone takes no cancel (its tasks went with it), one that does not answer never
            # says so: not awaited for ever either.
            await asyncio.wait({_in_thread(client.cancel, wrapped)}, timeout=_CANCELLED_WITHIN)
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


class _Dropped(Exception):
    """Dask cancelled a shard's future because its connection to the scheduler was lost."""


def _results(futures: Sequence[Any]) -> list[Any]:
    """The futures' results, in a thread, in order, the first failure raised as it comes (waited on in
    order, a group's refused model was raised once the groups before it had sent all their rows). Dask's
    cancel for a lost connection is told apart by its reason: raised out of a thread into a task as it
    is, a CancelledError would read as the task's own."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    wrapped = [getattr(future, "wrapped_future", future) for future in futures]  # Prefect's, or Dask's
    by_key = {each.key: future for each, future in zip(wrapped, futures, strict=True)}
    try:  # on the futures' client's loop: Prefect's client is no default one for Dask to find
        for done in as_completed(wrapped, loop=wrapped[0].client.loop) if wrapped else ():  # type: ignore[no-untyped-call]
            by_key[done.key].result()  # raises its task run's failure
        return [future.result() for future in futures]
    except FutureCancelledError as exc:
        if exc.reason == "scheduler-connection-lost":
            raise _Dropped(str(exc)) from exc
        raise


async def first_worker(client: Client, gone: NoWorkers, clock: Callable[[], float] = time.monotonic) -> None:
    """Return once the cluster has a running worker (at once when it has one); raise `gone.stop(...)`
    once it has had none for `gone.bound`, as a run mid-way stops. A first look that finds none says so
    at once, naming the scheduler and the bound; `asyncio` cancels the wait at once (Ctrl-C): its looks
    run in daemon threads."""
    address = str(getattr(client.scheduler, "address", "?"))
    await _watch(client, address, gone, clock, starting=True)


async def _watch(
    client: Client, address: str, gone: NoWorkers, clock: Callable[[], float], starting: bool = False
) -> None:
    """Return never (`starting`: once a look finds a running worker); raise `gone.stop(...)` once `gone`
    says so. Each look is Dask's own wait for a running worker, at most `gone.look` long: at once while
    there is one (the run then looks again after that long), the whole time while there is none (a
    start's first, only `_SHORTEST_LOOK`: its wait is said at once). A wait in a thread cannot be
    cancelled, so it is cut into looks: a run that ends meanwhile is not held a whole bound. A look that
    cannot reach the scheduler (refused, past Dask's connect timeout, the client closed), or not answered
    `_ANSWER_WITHIN` past its length (then not asked again while it waits), counts as no worker reached,
    never as a stop by itself: the bound runs from the first such look."""
    look: asyncio.Future[Any] | None = None
    length = _SHORTEST_LOOK if starting else gone.look
    while True:
        if look is None:
            look = _in_thread(client.wait_for_workers, 1, timeout=length)
        await asyncio.wait({look}, timeout=length + _ANSWER_WITHIN)
        length = gone.look
        workers = _found(look)
        if look.done():
            look = None
        now, since, unreached = clock(), gone.since, gone.unreached
        gone.saw(workers, now, str(client.status))
        if gone.over(now):
            # The client's own reconnection timeout (`Client(timeout=...)`), kept on it in seconds.
            raise gone.stop(address, float(getattr(client, "_timeout", 0.0)))
        _say_change(gone, workers, since, unreached, now, address, _AT_START if starting else _MID_RUN)
        if starting and workers:
            return
        if workers is not False:  # a look that found none waited its length already; one that failed
            await asyncio.sleep(gone.look)  # at once (a closed client) is not asked again straight away


def _found(look: asyncio.Future[Any]) -> bool | None:
    """What a look found: a running worker, none (Dask's wait timed out), the scheduler not reached."""
    if not look.done():
        return None
    try:
        look.result()
    except TimeoutError:
        return False
    except Exception as exc:  # the scheduler busy, restarting or gone: the bound decides which
        log.debug("could not ask the scheduler for its workers: %s", exc)
        return None
    return True


def _in_thread(call: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
    """`call(...)` in a daemon thread of its own: a call to a scheduler that never answers blocks its
    thread for ever, which must not hold the process at its exit (the executor's threads are joined)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ending: Callable[[Any], None], value: Any) -> None:
        if not future.done():  # an abandoned look's answer comes after the wait for it ended
            ending(value)

    def run() -> None:
        try:
            ending, value = future.set_result, call(*args, **kwargs)
        except BaseException as exc:
            ending, value = future.set_exception, exc
        with contextlib.suppress(RuntimeError):  # the run's loop closed meanwhile: nobody waits for it
            loop.call_soon_threadsafe(settle, ending, value)

    # Whoever waits reads the outcome; an abandoned call's, answered as the client closes, is not said.
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    threading.Thread(target=run, name="rowrelay-dask-look", daemon=True).start()
    return future


_MID_RUN = (
    "the Dask scheduler does not answer: the run waits for it, {wait}",
    "the Dask cluster has no running worker: its shards wait for one to join, {wait}",
    "a Dask worker is running again after {after}: the shards go on",
)
_AT_START = (
    "the Dask scheduler at {address} does not answer: the run waits for it, {wait}",
    "the Dask scheduler at {address} has no worker yet: the run waits for its first to join, {wait}",
    "a Dask worker joined after {after}: the run starts",
)
"""What a run says as it starts waiting for its scheduler, or for a worker, and once one is there: mid-run
(its shards), or at its start (a batch system may take minutes to grant a first worker)."""


def _say_change(
    gone: NoWorkers,
    workers: bool | None,
    since: float | None,
    unreached: bool,
    now: float,
    address: str,
    words: tuple[str, str, str],
) -> None:
    """Warn once as the run starts waiting for a worker (or for the scheduler), and once as one is back,
    in `words` (`_MID_RUN` or `_AT_START`): the run would look hung meanwhile."""
    wait = "for ever" if gone.bound == 0 else f"up to {seconds_said(gone.bound)}"
    wait += " (ROWRELAY_DASK_NO_WORKERS_AFTER sets how long; 0 waits for ever)"
    if workers is None and not unreached:
        log.warning(words[0].format(address=address, wait=wait))
    elif workers is False and since is None:
        log.warning(words[1].format(address=address, wait=wait))
    elif workers and since is not None:
        log.warning(words[2].format(after=seconds_said(round(now - since))))
