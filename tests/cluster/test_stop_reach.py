"""How a Dask run's stop reaches the groups of shards a worker runs (`tasks.cluster.stopping`), each on
an event loop of its own thread as Prefect runs a task on Dask, and what the closing line says of the
rows on shards it did not reach (`Cancelled.not_stopped`)."""

from __future__ import annotations

import asyncio
import secrets
import signal
import threading
from collections.abc import Callable

import pytest

from rowrelay.tasks.cluster.stopping import GroupStopped, entered, stop_shards
from rowrelay.tasks.run.stops import Cancelled, said_on_stop


def _group_in_thread(bank: str, numbers: str, on_cancel: Callable[[], Cancelled | None]) -> threading.Thread:
    """A group's task on its own loop in a thread, entered under `bank`; cancelled, it reports what
    `on_cancel` gives (None: it ignores the stop and runs on for a while)."""
    started = threading.Event()

    async def group() -> None:
        stops: list[Cancelled] = []

        async def work() -> None:
            await asyncio.sleep(60)

        task = asyncio.ensure_future(work())
        with entered(bank, numbers, task, stops):
            started.set()
            try:
                await task
            except asyncio.CancelledError:
                said = on_cancel()
                if said is None:
                    await asyncio.sleep(2)  # deaf to the stop, past the worker's bound
                else:
                    stops.append(said)

    thread = threading.Thread(target=asyncio.run, args=(group(),), daemon=True)
    thread.start()
    assert started.wait(10)
    return thread


def test_the_stop_cancels_each_group_and_says_what_they_cancelled() -> None:
    bank = f"bank-{secrets.token_hex(4)}"
    threads = [
        _group_in_thread(bank, "0-2", lambda: Cancelled(cancelled=15)),
        _group_in_thread(bank, "3-5", lambda: Cancelled(cancelled=4, ended=1)),
        _group_in_thread(bank, "6", lambda: None),
    ]
    answer = asyncio.run(stop_shards(bank, within=0.5))
    assert answer.cancelled == Cancelled(cancelled=19, ended=1)
    assert answer.ended == {"0-2", "3-5"}  # shard 6 did not answer within the bound
    for thread in threads:
        thread.join(10)


def test_a_group_starting_after_its_runs_stop_does_not_run() -> None:
    bank = f"bank-{secrets.token_hex(4)}"
    asyncio.run(stop_shards(bank, within=0.1))

    async def late() -> None:
        task = asyncio.ensure_future(asyncio.sleep(60))
        with entered(bank, "7", task, []):
            await task

    with pytest.raises(GroupStopped):
        asyncio.run(late())


def test_rows_on_shards_not_reached_are_said_to_run_on() -> None:
    said = said_on_stop([Cancelled(cancelled=12), Cancelled(not_stopped=8)])
    assert said == (
        "12 in-flight responses were cancelled, but 8 rows in flight on Dask shards the stop did not reach "
        "in time were not cancelled: their responses may still run, and be paid for"
    )


def test_the_workers_a_run_starts_leave_ctrl_c_to_the_run() -> None:
    """A terminal's Ctrl-C reaches the `--dask-workers` cluster's worker processes too (the command's
    process group): each closed at once, and the run's stop found none of its shards to cancel."""
    from rowrelay.flows.cluster import ClusterChoice
    from rowrelay.tasks.cluster.worker_ctrl_c import PRELOAD, dask_setup

    choice = ClusterChoice.of(None, 2)
    assert choice is not None
    assert PRELOAD in choice.runner().cluster_kwargs["preload"]  # type: ignore[attr-defined]
    before = signal.getsignal(signal.SIGINT)
    try:
        dask_setup(object())
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
