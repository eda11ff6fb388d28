"""A Dask run's progress, read from the state table on disk (every writer's rows: the shards write on the
workers, the coordinator none), and told while the cluster has no running worker that the shards wait
for one (`cluster_workers.NoWorkers`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from rowrelay.flows.cluster_workers import NoWorkers
from rowrelay.tasks.run import Progress
from rowrelay.tasks.run.context import RunCounters
from rowrelay.tasks.run.holding import HeldProgress
from rowrelay.tasks.state import read_table, summarize

__all__ = ["holding", "report", "watch"]

log = logging.getLogger("rowrelay.cluster")


def holding(progress: Callable[[Progress], None], gone: NoWorkers) -> Callable[[Progress], None]:
    """`progress`, told while the cluster has no running worker that the shards wait for one, and how
    much longer the run waits: without it the line read as a run frozen at its last count."""

    def tell(update: Progress) -> None:
        hold = gone.held(time.monotonic())
        if hold is None:
            progress(update)
        else:
            moment = {each.name: getattr(update, each.name) for each in fields(update)}
            progress(HeldProgress(**moment, held=(hold,)))

    return tell


async def watch(
    directory: Path, progress: Callable[[Progress], None], started: float, max_attempts: int
) -> None:
    """Progress from the table on disk (every writer's rows), read at most every tenth of the time the
    last read took times ten, so that a big table does not spend the coordinator's core on reading.
    (What the workers sent is known only when each shard ends: the counters come with the last report.)"""
    while True:
        began = time.monotonic()
        await report(directory, progress, started, RunCounters(), max_attempts)
        await asyncio.sleep(max(1.0, 10 * (time.monotonic() - began)))


async def report(
    directory: Path,
    progress: Callable[[Progress], None],
    started: float,
    counters: RunCounters,
    max_attempts: int,
) -> None:
    """Tell `progress` what the table on disk holds now, with `counters` (the workers' sends, at the end)."""
    try:
        rows, _problems = await asyncio.to_thread(read_table, directory)
    except Exception as exc:  # a read racing a compaction: the next one sees the snapshot
        log.debug("progress read failed: %s", exc)
        return
    elapsed = time.monotonic() - started
    # What `rowrelay status` would say now, the money included (each worker prices its own rows).
    said = summarize(rows, [], max_attempts=max_attempts)
    money = said["cost_usd"], said["projected_cost_usd"]
    progress(Progress(said["counts"], rows.num_rows, elapsed, counters, *money))
