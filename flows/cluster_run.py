"""Running a planned batch's shards on a started Dask cluster (see flows/cluster.py for choosing and
checking it): the shard jobs, the run's bank on the scheduler, progress from the table on disk, and the
coordinator's view of the table once the workers are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rowrelay.flows.cluster import on_scheduler
from rowrelay.flows.cluster_progress import holding, report, watch
from rowrelay.flows.cluster_stop import halt_shards_on_workers, stop_shards_on_workers
from rowrelay.flows.cluster_workers import NoWorkers, results_while_workers
from rowrelay.tasks.errors import LeaseHeldError, SchedulerGoneError, WorkersGoneError
from rowrelay.tasks.run import Progress, Shard
from rowrelay.tasks.run.context import RunCounters
from rowrelay.tasks.state import read_table
from rowrelay.tasks.state.lease import LEASE_TIMEOUT

if TYPE_CHECKING:
    from distributed import Client
    from prefect.task_runners import TaskRunner

    from rowrelay.flows.targets import Target
    from rowrelay.tasks.cluster.shard_job import ShardJob, ShardOutcome
    from rowrelay.tasks.media_refs import Attachment

log = logging.getLogger("rowrelay.cluster")


BEAT_EVERY = LEASE_TIMEOUT / 4
"""How often the coordinator refreshes its lease while its shards run: three beats may be lost (a
loaded machine, a slow disk) before another run takes it for stale."""


@contextlib.asynccontextmanager
async def coordinator_kept_alive(
    heartbeat: Callable[[], None] | None,
    every: float = BEAT_EVERY,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[None]:
    """Refresh the coordinator's lease (`heartbeat`: its table's) every `every` seconds while the block
    runs; None, a run without a cluster, whose own commits refresh it. While its shards run on the
    workers the coordinator writes no row, and only a commit refreshed its lease: 60 s into a Dask run
    another run took the batch over as stale and sent the shards' rows again (92 jobs for 60 rows)."""
    if heartbeat is None:
        yield
        return
    beating = asyncio.create_task(_beat(heartbeat, every, sleep))
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def _beat(
    heartbeat: Callable[[], None], every: float, sleep: Callable[[float], Awaitable[None]]
) -> None:
    while True:
        await sleep(every)
        try:
            heartbeat()
        except LeaseHeldError as exc:  # taken over: the shards' own leases still guard their rows
            log.error("the coordinator's lease is lost, no longer refreshed: %s", exc)
            return
        except Exception as exc:  # a disk slow or full for a moment: the next beat may pass
            log.warning("could not refresh the coordinator's lease: %s", exc)


def _granted(granted: dict[str, dict[str, int]]) -> str:
    """What each endpoint's budget gave the workers, at what rates: "; granted east 160 creates at
    1,200/min, 12 polls at 600/min; west ..."."""
    said = [
        f"{name} {each['creates']:,} creates at {each['rpm']:,}/min, {each['polls']:,} polls at "
        f"{each['poll_rpm']:,}/min"
        for name, each in granted.items()
    ]
    return f"; granted {'; '.join(said)}" if said else ""


def bank_limits(targets: Sequence[Target]) -> dict[str, dict[str, int]]:
    """Each endpoint's limits (the run's own, without endpoints), by the bank's name for its budget."""
    from rowrelay.tasks.cluster.bank_service import limits_of
    from rowrelay.tasks.cluster.shard_job import DEFAULT_BUDGET

    return {
        target.endpoint or DEFAULT_BUDGET: limits_of(
            target.settings.rpm, target.settings.tpm, target.settings.poll_rpm, target.settings.max_in_flight
        )
        for target in targets
    }


async def run_on_cluster(
    runner: TaskRunner[Any],
    jobs: Callable[[str], list[ShardJob]],
    limits: dict[str, dict[str, int]],
    directory: Path,
    progress: Callable[[Progress], None],
    max_attempts: int,
    no_workers_after: float,
) -> list[ShardOutcome]:
    """Install the run's bank, run every shard job as a Prefect task on the cluster, report progress
    from the table on disk meanwhile (its projection by the run's `max_attempts`); returns each shard's
    outcome (the first failure raises). A cluster with no running worker for `no_workers_after` seconds
    stops the run (`cluster_workers`: Dask would wait for one for ever)."""
    from rowrelay.tasks.cluster.bank_service import drop_bank, install_bank
    from rowrelay.tasks.cluster.shard_job import ShardGroup
    from rowrelay.tasks.steps import process_shards_on_worker

    client: Client = runner.client  # type: ignore[attr-defined]
    bank = f"rowrelay-{secrets.token_hex(6)}"
    await asyncio.to_thread(on_scheduler, client, install_bank, bank, limits)
    attempts_before = await asyncio.to_thread(_attempts_on_disk, directory)
    started = time.monotonic()
    gone = NoWorkers(no_workers_after)
    watcher = asyncio.create_task(watch(directory, holding(progress, gone), started, max_attempts))
    reachable, groups, futures = True, list[ShardGroup](), list[Any]()
    try:
        shards = jobs(bank)
        each = together(shards, limits, await asyncio.to_thread(threads_of, runner))
        groups = [ShardGroup(tuple(shards[i : i + each])) for i in range(0, len(shards), each)]
        futures = [runner.submit(process_shards_on_worker, {"group": group}) for group in groups]
        outcomes = [one for group in await results_while_workers(client, futures, gone) for one in group]
    except SchedulerGoneError:
        reachable = False  # the bank went with its scheduler: dropping it would fail over the stop
        raise
    except BaseException as stop:  # Ctrl-C, SIGTERM, a flow's cancellation: Dask stops no running task
        if not isinstance(stop, Exception) and futures:
            how = (
                "cancelled"
                if isinstance(stop, asyncio.CancelledError)
                else f"stopped ({type(stop).__name__})"
            )
            await stop_shards_on_workers(client, bank, groups, futures, directory, how)
        elif futures and not isinstance(stop, WorkersGoneError):  # a group's error: the run's
            await halt_shards_on_workers(client, bank, futures)
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        stats: dict[str, Any] = {}
        if reachable:
            stats = await asyncio.to_thread(on_scheduler, client, drop_bank, bank)
            log.info("shared budget %s: %s round trips to the scheduler%s", bank, stats.get("calls", "?"),
                     _granted(stats.get("granted", {})))  # fmt: skip
    spent = await asyncio.to_thread(_attempts_on_disk, directory) - attempts_before
    counters = requests_sent(outcomes, spent, stats.get("workers_left", 0))
    log.info("%d shards on %d workers", len(outcomes), len({outcome.worker for outcome in outcomes}))
    await report(directory, progress, started, counters, max_attempts)  # the end, with what workers did
    return outcomes


def requests_sent(outcomes: Sequence[ShardOutcome], spent: int, workers_left: int) -> RunCounters:
    """What the run sent: the shards' counters added up, and the creates of shard runs that never
    reported (a worker killed mid-run: Dask ran its shard again elsewhere, and only the last run's
    counters come back). Every create that may start a job spends its row an attempt, durably, before
    it leaves, so those creates are the attempts the table gained (`spent`) that no report names;
    their polls, stream resumes and retries are known to nobody, which `workers_lost` says. Before, the
    closing line said 60 creates for the server's 120 jobs."""
    counters = RunCounters()
    for outcome in outcomes:
        for name, value in outcome.counters.items():
            setattr(counters, name, getattr(counters, name) + value)
    unreported = spent - sum(outcome.attempts_spent for outcome in outcomes)
    counters.creates += max(0, unreported)
    counters.workers_lost = max(workers_left, 1 if unreported > 0 else 0)
    return counters


def _attempts_on_disk(directory: Path) -> int:
    """The attempts every row of the table on disk has spent (the workers' writes included)."""
    import pyarrow.compute as pc

    rows, _problems = read_table(directory)
    total = pc.sum(rows.column("attempts")).as_py()
    return int(total or 0)


def threads_of(runner: TaskRunner[Any]) -> int:
    """Shards the cluster runs at once: its workers' threads."""
    client: Client = runner.client  # type: ignore[attr-defined]
    threads: dict[str, int] = client.nthreads()  # type: ignore[no-untyped-call]
    return max(1, sum(threads.values()))


def together(jobs: Sequence[ShardJob], limits: Mapping[str, Mapping[str, int]], threads: int) -> int:
    """Shards each Dask task runs at once: each endpoint's `shards_at_once` (`limits` by the bank's names),
    as without a cluster, over the threads, and no more than a thread's even share. A thread runs one
    task at a time: a shard a task held 4 threads' shards in flight at most, 20 rows at --max-in-flight
    40 in shards of 5, silently. The bank's in-flight gate still bounds rows in flight."""
    from rowrelay.flows.targets import shards_at_once

    widest: dict[str, int] = {}
    for job in jobs:
        widest[job.budget] = max(widest.get(job.budget, 0), len(job.keys))
    needed = sum(shards_at_once(limits[name]["max_in_flight"], rows) for name, rows in widest.items())
    return max(1, min(-(-needed // threads), -(-len(jobs) // threads)))


def spread(shards: Sequence[Shard], slots: int) -> list[Shard]:
    """The shards cut again for the cluster's threads: each endpoint gets a share of the threads in
    proportion to its rows (one at least), its rows cut evenly into that many shards or more (none
    larger than planned), and the shards interleaved across endpoints, so that Dask, which starts them
    in the order given, keeps every endpoint's shards running rather than one endpoint's queue waiting
    for another's to drain. A batch smaller than a shard per thread is cut finer so every thread works."""
    largest = max((len(shard.keys) for shard in shards), default=1)
    groups: dict[str | None, list[str]] = {}
    for shard in shards:
        groups.setdefault(shard.endpoint, []).extend(shard.keys)
    rows = sum(map(len, groups.values()))
    queues = []
    for endpoint, keys in groups.items():
        count = max(1, round(slots * len(keys) / rows), math.ceil(len(keys) / largest))
        size = math.ceil(len(keys) / count)
        queues.append([(endpoint, keys[i : i + size]) for i in range(0, len(keys), size)])
    interleaved = [piece for turn in itertools.zip_longest(*queues) for piece in turn if piece is not None]
    return [Shard(number, endpoint, keys) for number, (endpoint, keys) in enumerate(interleaved)]


def shard_jobs(
    shards: Sequence[Shard],
    targets: Sequence[Target],
    directory: Path,
    prompt: Callable[[str], str],
    *,
    instructions: str | None,
    agent: str | None,
    output_schema: tuple[str, dict[str, Any], str] | None,
    attachments: Callable[[str], tuple[Attachment, ...]] | None = None,
) -> Callable[[str], list[ShardJob]]:
    """The jobs of a run's shards, once the bank's name is known: each carries its rows' prompts (and
    attachments), its
    endpoint's settings without their keys and its entry (workers read keys from their own environment,
    from the variables the entry names)."""
    from rowrelay.tasks.cluster.shard_job import ShardJob
    from rowrelay.tasks.run.endpoints import without_keys

    by_endpoint = {target.endpoint: target for target in targets}
    keyless = {target.endpoint: without_keys(target.settings) for target in targets}

    def jobs(bank: str) -> list[ShardJob]:
        return [
            ShardJob(
                str(directory),
                shard.number,
                shard.keys,
                {key: prompt(key) for key in shard.keys},
                keyless[shard.endpoint],
                bank,
                endpoint=shard.endpoint,
                entry=by_endpoint[shard.endpoint].entry,
                base_url=by_endpoint[shard.endpoint].url,
                instructions=instructions,
                agent=agent,
                output_schema=output_schema,
                attachments=None if attachments is None else {key: attachments(key) for key in shard.keys},
            )
            for shard in shards
        ]

    return jobs
