"""Workers that come back within ROWRELAY_DASK_NO_WORKERS_AFTER take the shards on: the coordinator's
wait for its shards (`cluster_workers.results_while_workers`) on a real Dask cluster (in this process,
its worker a thread) whose only worker is closed while a task waits, then a new one started. The run
says it waits, and gets the task's result: no stop (the bound is far off; only the outcome is asserted).
(The stop past the bound is tests/cluster/test_workers_gone.py's, through the command.)

A run's start, called from Python (`cluster.started`, by `run_batch`), waits for its cluster's first worker
the same way (`cluster.with_a_worker`): said at once, taken once one joins, refused past the bound. (The
command's own start is tests/cluster/test_workers_gone.py's and tests/flows/test_usage_errors.py's.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from rowrelay.flows.cluster import LOCAL_CLUSTER_HTTP, with_a_worker
from rowrelay.flows.cluster_workers import NoWorkers, results_while_workers
from rowrelay.tasks.errors import UsageError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _answer() -> int:
    return 42


async def test_a_worker_back_within_the_bound_takes_the_work_on(caplog: pytest.LogCaptureFixture) -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, processes=False, **LOCAL_CLUSTER_HTTP) as cluster,  # type: ignore[no-untyped-call]
        Client(cluster.scheduler_address) as client,  # type: ignore[no-untyped-call]
        caplog.at_level(logging.WARNING, "rowrelay.cluster"),
    ):
        cluster.scale(0)
        await asyncio.to_thread(_until, lambda: not client.scheduler_info(n_workers=-1)["workers"])
        future = client.submit(_answer)  # waits for a worker
        gone = NoWorkers(240.0)  # a bound no start of a worker reaches: only the outcome is asserted
        waiting = asyncio.create_task(results_while_workers(client, [future], gone))
        await _until_async(lambda: gone.since is not None, waiting)  # the run has seen none
        cluster.scale(1)
        assert await waiting == [42]
    said = [record.getMessage() for record in caplog.records if record.name == "rowrelay.cluster"]
    # and, when a look comes between the worker's start and the task's end, that one is running again
    assert said[0].startswith(
        "the Dask cluster has no running worker: its shards wait for one to join, up to 4 min"
    )
    assert all(line.startswith("a Dask worker is running again after ") for line in said[1:]), said


async def test_a_start_waits_for_the_clusters_first_worker(caplog: pytest.LogCaptureFixture) -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=0, processes=False, **LOCAL_CLUSTER_HTTP) as cluster,  # type: ignore[no-untyped-call]
        Client(cluster.scheduler_address) as client,  # type: ignore[no-untyped-call]
        caplog.at_level(logging.WARNING, "rowrelay.cluster"),
    ):
        where = f"the Dask scheduler at {cluster.scheduler_address}"
        with pytest.raises(UsageError) as refused:
            await with_a_worker(client, where, 0.5)
        assert str(refused.value) == (
            f"{where}: the cluster has no workers (none joined in 0.5 s; "
            "ROWRELAY_DASK_NO_WORKERS_AFTER sets how long a run waits for one)"
        )
        waits = f"{where} has no worker yet: the run waits for its first to join, up to 4 min"
        caplog.clear()
        waiting = asyncio.create_task(with_a_worker(client, where, 240.0))  # no start of a worker reaches it
        await _until_async(lambda: any(waits in record.getMessage() for record in caplog.records), waiting)
        cluster.scale(1)
        await waiting
    said = [record.getMessage() for record in caplog.records if record.name == "rowrelay.cluster"]
    assert said[0].startswith(waits), said
    assert said[-1].startswith("a Dask worker joined after "), said  # a look failing meanwhile is said too
    assert said[-1].endswith(": the run starts"), said


def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        time.sleep(0.05)


async def _until_async(condition: Callable[[], bool], task: asyncio.Task[Any]) -> None:
    while not condition():
        assert not task.done(), task
        await asyncio.sleep(0.05)
