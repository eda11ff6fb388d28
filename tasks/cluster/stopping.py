"""A run's stop reaching its shards on the Dask workers (Ctrl-C, SIGTERM, a flow's cancellation).

Dask cannot stop a task that runs: a future cancelled, or released as the run's client closes, is
forgotten by the scheduler while the worker's thread runs the task on. So a run stopped on an existing
cluster said its in-flight responses were cancelled while its shards ran on, holding their leases: the
server's 40 responses stayed in progress, the same command was refused for about a minute, and the
shards finished rows of their own meanwhile. Each group of shards therefore enters itself here (in its
worker's process, under its run's bank id) as it starts, and the coordinator, stopping, runs `stop_shards`
on every worker (`Client.run`): it cancels the groups' tasks on their own loops, as Ctrl-C cancels a
local run's shards (each cancels its in-flight responses and closes its writer, letting go of its
lease), and answers what they cancelled once they have ended.

A run-stopping error met by one group (a refused key, a model the server does not have, an outage) stops
the run's other groups the same way, halted first (`halt`): as a run without a cluster stops its other
shards (`flows.targets.run_shards`), their responses go on, keeping their ids for the next run to wait on,
rather than being cancelled for a fault that is not theirs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rowrelay.tasks.run.stops import Cancelled

STOP_WITHIN = 60.0
"""Seconds a worker waits for its groups to cancel their responses and end: past it, a group is said
not to have answered (thousands in flight take a while, 32 cancels at a time)."""


class GroupStopped(Exception):
    """The group was stopped by its run's coordinator: what it cancelled went back in `stop_shards`."""


@dataclass
class _Group:
    numbers: str
    loop: asyncio.AbstractEventLoop
    task: asyncio.Future[Any]
    stops: list[Cancelled]
    """What each of its shards' runners cancelled as it stopped (`cancel.stops_seen`, set for the group)."""
    halt: Callable[[], None]
    """Called on the group's loop before its task is cancelled when another group's error stops the run:
    its shards then leave their responses running (`BatchRunner.halted`)."""
    ended: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


@dataclass(frozen=True)
class WorkerStop:
    """A worker's answer to `stop_shards`: what its groups of the run cancelled, and which ended."""

    cancelled: Cancelled
    ended: frozenset[str]
    """The groups (their shards' numbers, `ShardGroup.numbers`) that ended within `STOP_WITHIN`."""


# Per worker process, as Dask's own extensions are per worker: the groups under way, by bank id, and
# the banks whose stop came (a group starting after it, its task already on its way, does not run).
_running: dict[str, list[_Group]] = {}
_stopped: set[str] = set()
_lock = threading.Lock()


@contextlib.contextmanager
def entered(
    bank: str,
    numbers: str,
    task: asyncio.Future[Any],
    stops: list[Cancelled],
    halt: Callable[[], None] = lambda: None,
) -> Iterator[_Group]:
    """`task` (a group's shards, running on this thread's loop) reachable by its run's stop while the
    block runs; `GroupStopped` at once if that stop came before."""
    group = _Group(numbers, asyncio.get_running_loop(), task, stops, halt)
    with _lock:
        if bank in _stopped:
            task.cancel()
            raise GroupStopped(f"shards {numbers}: their run was stopped before they started")
        _running.setdefault(bank, []).append(group)
    try:
        yield group
    finally:
        with _lock:
            _running[bank].remove(group)
            if not _running[bank]:
                del _running[bank]
        group.ended.set_result(None)


def was_stopped(bank: str) -> bool:
    with _lock:
        return bank in _stopped


async def stop_shards(bank: str, within: float = STOP_WITHIN, *, halt: bool = False) -> WorkerStop:
    """Run on each worker (`Client.run`, on the worker's loop): cancel the run's groups here, wait up to
    `within` for them to end, and say what their shards cancelled. `halt`: another group's error stops
    the run, and these groups leave their responses running, as a run without a cluster does."""
    with _lock:
        _stopped.add(bank)  # a few bytes a stopped run, for the worker's life
        groups = list(_running.get(bank, ()))
    for group in groups:
        with contextlib.suppress(RuntimeError):  # its loop closed: the group has ended
            group.loop.call_soon_threadsafe(_stop, group, halt)
    if groups:
        await asyncio.wait([asyncio.wrap_future(group.ended) for group in groups], timeout=within)
    done = [group for group in groups if group.ended.done()]
    total = sum((stop for group in done for stop in list(group.stops)), Cancelled())
    return WorkerStop(total, frozenset(group.numbers for group in done))


def _stop(group: _Group, halt: bool) -> None:
    """On the group's loop: halt its shards first if asked (in one callback, so no shard starts between),
    then cancel its task."""
    if halt:
        group.halt()
    group.task.cancel()


_STOP_SAID = ("run cancelled: ", "run stopped (")
"""How a runner says its stop (`runner._cancel_in_flight`): its cancelling, and what that did."""


class _SaidByTheCommand(logging.Filter):
    """Drops a shard's own words on its stop from a worker's console: a shard on Dask is a runner of its
    own, and `--dask-workers` prints to the command's stderr, so each said its `run cancelled: 5
    in-flight responses were cancelled` above the progress line, one a shard for one Ctrl-C. The
    coordinator says the run's sum once (`flows.cluster_stop`), as a run without a cluster does."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "rowrelay.runner" and record.getMessage().startswith(_STOP_SAID))


@functools.cache
def said_by_the_command() -> None:
    """Once per worker process: its console's handlers (the root logger's) leave the shards' words on
    their stop to the command; every other handler (a task run's logs in Prefect) still gets them."""
    quiet = _SaidByTheCommand()
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
