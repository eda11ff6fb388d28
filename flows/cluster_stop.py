"""A Dask run's stop (Ctrl-C, SIGTERM, a flow's cancellation) carried to its shards on the workers.

Dask stops no task that runs: the coordinator's cancel reached its own wait alone, and the run said its
in-flight responses were cancelled while the shards ran on, holding their leases (40 responses in
progress on the server, the same command refused for about a minute). Here the shards' futures are
cancelled on the scheduler (the groups not yet started never start), then every worker cancels the run's
groups it runs (`tasks.cluster.stopping.stop_shards`): each shard cancels its in-flight responses and
lets go of its lease, as a local run's do, and what they cancelled comes back for the closing line
(`cancel.stops_seen`). Rows in flight on groups that did not answer (a worker gone, or busy past
`STOP_WITHIN`) are counted from the table on disk as not cancelled: their responses may still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rowrelay.tasks.run.cancel import CANCEL_CONCURRENCY
from rowrelay.tasks.run.stops import Cancelled, said_on_stop, stops_seen

if TYPE_CHECKING:
    from distributed import Client

    from rowrelay.tasks.cluster.shard_job import ShardGroup
    from rowrelay.tasks.cluster.stopping import WorkerStop

log = logging.getLogger("rowrelay.cluster")

_ASKED_WITHIN = 30.0
"""Seconds past the workers' own bound (`STOP_WITHIN`) the coordinator waits for their answers."""


async def stop_shards_on_workers(
    client: Client,
    bank: str,
    groups: Sequence[ShardGroup],
    futures: Sequence[Any],
    directory: Path,
    how: str = "cancelled",
) -> None:
    """Stop the run's groups on the cluster, say once what that did (`run cancelled: ...`, as a run
    without a cluster says it: the workers leave it to the command, `stopping.said_by_the_command`), and
    tell the closing line (`stops_seen`)."""
    answers: dict[str, WorkerStop | BaseException] = {}
    keys = [key for group in groups for job in group.jobs for key in job.keys]
    try:
        asking = await _asking(client, bank, futures, halt=False)
        if (held := await asyncio.to_thread(_in_flight, directory, keys)) > CANCEL_CONCURRENCY:
            log.warning("run %s: cancelling %s in-flight responses on the server", how, f"{held:,}")
        answers = await asking
    except Exception as exc:  # the scheduler gone or not answering: nothing reached the shards
        log.warning("the stop could not reach the run's shards on the Dask workers: %s", exc)
    stop, ended = Cancelled(), set[str]()
    for worker, answer in answers.items():
        if isinstance(answer, BaseException):
            log.warning("the stop could not reach Dask worker %s: %s", worker, answer)
            continue
        stop, ended = stop + answer.cancelled, ended | answer.ended
    unanswered = [
        key for group in groups if group.numbers not in ended for job in group.jobs for key in job.keys
    ]
    stop = stop + Cancelled(not_stopped=await asyncio.to_thread(_in_flight, directory, unanswered))
    if stop != Cancelled():  # a stop with nothing in flight says nothing, as a local run's
        waits = "; the next run waits on them" if stop.unreached or stop.left else ""
        log.warning("run %s: %s%s", how, said_on_stop([stop]), waits)
    if (seen := stops_seen.get()) is not None:
        seen.append(stop)


async def halt_shards_on_workers(client: Client, bank: str, futures: Sequence[Any]) -> None:
    """One group's error stops the run (a refused key, a model the server does not have, an outage): stop
    every other group as a run without a cluster stops its other shards (`flows.targets.run_shards`),
    their responses left running and their rows keeping their ids, the groups not started never
    started. Before, only the failing group stopped: the others went on sending the batch, and the run
    said the error once every group before it had ended. What they did is not said: the error's line is
    the run's. A group not reached stops at its next call on the run's budget, dropped as the run ends."""
    try:
        answers = await (await _asking(client, bank, futures, halt=True))
    except Exception as exc:  # the scheduler gone or not answering
        log.warning("the run's other shards on the Dask workers could not be stopped: %s", exc)
        return
    for worker, answer in answers.items():
        if isinstance(answer, BaseException):
            log.warning("the run's shards on Dask worker %s could not be stopped: %s", worker, answer)


async def _asking(
    client: Client, bank: str, futures: Sequence[Any], *, halt: bool
) -> asyncio.Future[dict[str, WorkerStop | BaseException]]:
    """Cancel the run's futures on the scheduler (groups not started never start), and start asking
    every worker to stop the run's groups there (`stopping.stop_shards`; `halt`: they leave their
    responses running): each worker's answer, or what it raised, within the workers' own bound and
    `_ASKED_WITHIN` past it."""
    from rowrelay.tasks.cluster.stopping import STOP_WITHIN, stop_shards

    await asyncio.to_thread(client.cancel, [future.wrapped_future for future in futures])
    asking = asyncio.to_thread(client.run, stop_shards, bank, STOP_WITHIN, halt=halt, on_error="return")
    return asyncio.ensure_future(asyncio.wait_for(asking, STOP_WITHIN + _ASKED_WITHIN))


def _in_flight(directory: Path, keys: Sequence[str]) -> int:
    """Rows among `keys` still holding a response id in the table on disk (every writer's files)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from rowrelay.tasks.records import HOLDING_TOKEN
    from rowrelay.tasks.state import read_table

    if not keys:
        return 0
    try:
        rows, _problems = read_table(directory)
    except Exception as exc:  # unreadable now: none of them is said cancelled
        log.warning("could not read the state table after the stop: %s", exc)
        return len(keys)
    among = pc.is_in(rows.column("row_key"), value_set=pa.array(list(keys)))
    holding = pc.is_in(rows.column("status"), value_set=pa.array(sorted(HOLDING_TOKEN)))
    return int(pc.sum(pc.cast(pc.and_(among, holding), pa.int64())).as_py() or 0)
