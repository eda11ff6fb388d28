"""bench_dask's item 3, the cost of one grant from the batch's shared budget: a LocalCluster of one worker
process, the run's bank installed on its scheduler as a run installs it, and a task on the worker calling
`DaskLink.grant` in a loop, the path a shard's budget takes (the shard's event loop, the worker's, the
scheduler's handler, and back). Its own module so that the worker imports the task by name.

Measured: the LocalCluster's start and its first task (imports on the worker), each round trip's time,
the scheduler thread's CPU across the loop (Dask's RPC handling and the bank: `run_on_scheduler` runs
a function on that thread, so `thread_time` there reads it), and `Bank.grant` alone for comparison.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from typing import Any

from tests.benchmarks._common import cores, median, quantile

OUT_OF_THE_WAY = (10**9, 10**12, 10**9, 10**6)
"""rpm, tpm, poll_rpm, max_in_flight: every grant is due at once, so a round trip is all that is timed."""


def _grant_loop(bank: str, count: int) -> list[float]:
    """On a worker, in a task's thread as a shard runs: `count` grants, each one's seconds."""
    from rowrelay.tasks.cluster.link import DaskLink

    link = DaskLink(bank, "default", "bench")

    async def loop() -> list[float]:
        took = []
        for _ in range(count):
            began = time.perf_counter()
            await link.grant("creates", 1, 1)
            took.append(time.perf_counter() - began)
        return took

    return asyncio.run(loop())


def _scheduler_cpu() -> float:
    """CPU seconds of the thread that runs the scheduler's event loop (`run_on_scheduler` runs here)."""
    return time.thread_time()


def _bank_alone(count: int) -> float:
    """Seconds per `Bank.grant` called directly: the scheduler's arithmetic without Dask's RPC."""
    from rowrelay.tasks.llm.bank import Bank, Limits

    bank = Bank({"default": Limits(*OUT_OF_THE_WAY)}, time.monotonic)
    began = time.perf_counter()
    for _ in range(count):
        bank.grant("default", "creates", 1, 1)
    return (time.perf_counter() - began) / count


def one_grant(grants: int) -> dict[str, Any]:
    _, others = cores()
    mine = os.sched_getaffinity(0)
    # the scheduler's thread (in this process) and the worker it spawns, off the emulator's core
    os.sched_setaffinity(0, others)
    bank = f"bench-{secrets.token_hex(4)}"
    try:
        return _one_grant(grants, bank)
    finally:
        os.sched_setaffinity(0, mine)


def _one_grant(grants: int, bank: str) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from rowrelay.flows.cluster import LOCAL_CLUSTER_HTTP
    from rowrelay.tasks.cluster.bank_service import drop_bank, install_bank, limits_of

    began = time.perf_counter()
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, **LOCAL_CLUSTER_HTTP)  # type: ignore[no-untyped-call]
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(1)
        started = time.perf_counter() - began
        client.run_on_scheduler(install_bank, bank, {"default": limits_of(*OUT_OF_THE_WAY)})
        client.submit(_grant_loop, bank, 200, pure=False).result()  # warm: imports, connections
        first = time.perf_counter() - began - started
        before = client.run_on_scheduler(_scheduler_cpu)
        took = client.submit(_grant_loop, bank, grants, pure=False).result()
        cpu = client.run_on_scheduler(_scheduler_cpu) - before
        stats = client.run_on_scheduler(drop_bank, bank)
    return {
        "grants": grants,
        "bank_grants": stats.get("grants"),
        "round_trip_median_us": median(took) * 1e6,
        "round_trip_p95_us": quantile(took, 0.95) * 1e6,
        "scheduler_cpu_per_grant_us": cpu / grants * 1e6,
        "bank_alone_us": _bank_alone(100_000) * 1e6,
        "cluster_start_s": started,
        "first_task_s": first,
    }
