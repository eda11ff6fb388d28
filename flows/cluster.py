"""Shards on a Dask cluster, through Prefect's DaskTaskRunner (prefect-dask), under one rate budget.

    rowrelay run tickets.csv --template '...' --dask tcp://scheduler:8786     # an existing cluster
    rowrelay run tickets.csv --template '...' --dask-workers 4                # a LocalCluster for the run
    await run_batch(..., task_runner=DaskTaskRunner(cluster_class="dask_jobqueue.SLURMCluster", ...))

The coordinator (the flow) plans the batch as ever, installs the run's bank on the scheduler
(`rowrelay.tasks.cluster.bank_service`), and submits each shard as a Prefect task; each worker runs its
shard as its own writer of the state table. Meanwhile the coordinator reads the table from disk for
progress (the union of every writer), and at the end reopens it for the export and summary.

Before anything is sent, the cluster is checked: a scheduler that does not answer, workers (or a
scheduler) without rowrelay each raise `UsageError` in one line. A cluster with no worker yet is waited for
as a run waits for workers gone mid-run (`cluster_workers.first_worker`, `dask_no_workers_after`): a
SLURM, PBS or adaptive cluster has none until its batch system grants them. Past that bound, it too is
a `UsageError` in one line, nothing sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rowrelay.flows.cluster_workers import NoWorkers, first_worker
from rowrelay.tasks.errors import SchedulerGoneError, UsageError, WorkersGoneError, seconds_said
from rowrelay.tasks.setting_problems import given_as, option_of
from rowrelay.tasks.settings import Settings

if TYPE_CHECKING:
    from distributed import Client
    from prefect.task_runners import TaskRunner


log = logging.getLogger("rowrelay.cluster")
CONNECT_TIMEOUT = "10s"
THREADS_PER_WORKER = 2
"""Shards a LocalCluster worker runs at once: the next starts while the last one's tail finishes."""
LOCAL_CLUSTER_HTTP: dict[str, Any] = {
    "dashboard_address": None,
    "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
}
"""A LocalCluster's scheduler with no dashboard. `dashboard_address=None` alone turns off only its pages:
the scheduler still serves its HTTP routes, on 8787 by default, and warns on the console ("Port 8787 is
already in use") when another cluster holds it. Those routes take a free local port instead."""


@dataclass(frozen=True)
class ClusterChoice:
    """Where the shards run: an existing scheduler, a LocalCluster of N workers, or a given task runner."""

    address: str | None = None
    workers: int | None = None
    task_runner: Any = None

    @classmethod
    def of(cls, address: str | None, workers: int | None, task_runner: Any = None) -> ClusterChoice | None:
        if sum(option is not None for option in (address, workers, task_runner)) > 1:
            raise UsageError(
                f"{option_of('dask')}, {option_of('dask_workers')} and task_runner= each choose the "
                "cluster: give one"
            )
        if workers is not None and workers < 1:
            raise UsageError(f"{given_as('dask_workers', str(workers))}: give at least 1 worker")
        if address is not None and not address.strip():
            raise UsageError(
                f"{option_of('dask')}: names no scheduler; give its address, e.g. tcp://10.0.0.5:8786"
            )
        if address is None and workers is None and task_runner is None:
            return None
        return cls(address, workers, task_runner)

    def runner(self) -> TaskRunner[Any]:
        # the dask extra: only when a cluster is asked for
        from prefect_dask.task_runners import DaskTaskRunner

        if self.task_runner is not None:
            if not isinstance(self.task_runner, DaskTaskRunner):
                raise UsageError(
                    f"task_runner={type(self.task_runner).__name__}: rowrelay's shared rate budget lives on "
                    "a Dask scheduler; give a prefect_dask.DaskTaskRunner (any cluster class)"
                )
            return cast("TaskRunner[Any]", self.task_runner.duplicate())  # type: ignore[no-untyped-call]
        if self.address is not None:
            return DaskTaskRunner(address=self.address, client_kwargs={"timeout": CONNECT_TIMEOUT})
        from rowrelay.tasks.cluster.worker_ctrl_c import PRELOAD  # Ctrl-C left to the run's own stop

        cluster = {
            "n_workers": self.workers,
            "threads_per_worker": THREADS_PER_WORKER,
            "preload": [PRELOAD],
            **LOCAL_CLUSTER_HTTP,
        }
        return DaskTaskRunner(cluster_kwargs=cluster)

    def describe(self) -> str:
        if self.address is not None:
            return f"the Dask scheduler at {self.address}"
        if self.workers is not None:
            return f"a LocalCluster of {self.workers} workers"
        return f"the task runner {type(self.task_runner).__name__}"


def dask_installed() -> None:
    if importlib.util.find_spec("prefect_dask") is None or importlib.util.find_spec("distributed") is None:
        raise UsageError("running on Dask needs the dask extra: pip install 'rowrelay[dask]'")


@contextlib.asynccontextmanager
async def started(choice: ClusterChoice, no_workers_after: float) -> AsyncIterator[TaskRunner[Any]]:
    """The task runner, started and checked (scheduler answers, has a worker within `no_workers_after`
    seconds, 0 for ever, all with rowrelay). Dask's blocking client runs in threads here: the flow's event
    loop keeps serving meanwhile."""
    dask_installed()
    if choice.address is not None:
        await _answering(choice.address, choice.describe())
    runner = choice.runner()
    await asyncio.to_thread(_start, runner, choice)
    try:
        client = runner.client  # type: ignore[attr-defined]
        await with_a_worker(client, choice.describe(), no_workers_after)
        await asyncio.to_thread(check_rowrelay, client, choice.describe())
        yield runner
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)


def _start(runner: TaskRunner[Any], choice: ClusterChoice) -> None:
    try:
        runner.__enter__()
        runner.client  # type: ignore[attr-defined]  # noqa: B018  # connects (or starts the cluster) now
    except (OSError, TimeoutError) as exc:
        runner.__exit__(None, None, None)
        raise _no_scheduler(choice.describe(), exc) from None


async def with_a_worker(client: Client, where: str, no_workers_after: float) -> None:
    """Return once the cluster has a running worker; `UsageError` in one line once it has had none for
    `no_workers_after` seconds (0: waits for ever), or its scheduler could not be reached that long."""
    try:
        await first_worker(client, NoWorkers(no_workers_after))
    except SchedulerGoneError as exc:
        raise UsageError(exc.why) from None
    except WorkersGoneError:
        raise UsageError(
            f"{where}: the cluster has no workers (none joined in {seconds_said(no_workers_after)}; "
            "ROWRELAY_DASK_NO_WORKERS_AFTER sets how long a run waits for one)"
        ) from None


def check_rowrelay(client: Client, where: str) -> None:
    """`UsageError` in one line unless rowrelay is installed on every worker and on the scheduler."""
    found = client.run(importlib.util.find_spec, "rowrelay")
    missing = sorted(address for address, spec in found.items() if spec is None)
    if missing:
        raise UsageError(
            f"{where}: rowrelay is not installed on {len(missing)} worker(s) ({', '.join(missing[:3])}): "
            "install rowrelay[dask] in every worker's environment"
        )
    if on_scheduler(client, importlib.util.find_spec, "rowrelay") is None:
        raise UsageError(f"{where}: rowrelay is not installed on the scheduler (it keeps the rate budget)")


def on_scheduler(client: Client, function: Callable[..., Any], *args: Any) -> Any:
    """Run `function(*args)` in the scheduler's process (it gets `dask_scheduler=` if it takes it)."""
    return client.run_on_scheduler(function, *args)  # type: ignore[no-untyped-call]


def _no_scheduler(where: str, exc: BaseException) -> UsageError:
    return UsageError(f"{where}: no Dask scheduler answers ({_first_line(exc)})")


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0]


def check_cost_cap(settings: Settings) -> None:
    if settings.max_cost is not None:
        raise UsageError(
            f"{option_of('max_cost')} with {option_of('dask')}/{option_of('dask_workers')}: the cost cap is "
            "kept by one process; run without a cluster to cap the cost"
        )


def precheck(request_dask: str | None, dask_workers: int | None, no_workers_after: float) -> None:
    """What `rowrelay run` checks of the cluster before Prefect or the emulator start: the extra is
    installed and, for an existing scheduler, that it answers, has a worker (waited for up to
    `no_workers_after` seconds, 0 for ever), and they all have rowrelay."""
    if request_dask is None and dask_workers is None:
        return
    dask_installed()
    if request_dask is None:
        return
    from distributed import Client

    where = f"the Dask scheduler at {request_dask}"
    asyncio.run(_answering(request_dask, where))
    try:
        client = Client(request_dask, timeout=CONNECT_TIMEOUT, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise _no_scheduler(where, exc) from None
    with client:
        asyncio.run(with_a_worker(client, where, no_workers_after))
        check_rowrelay(client, where)


async def _answering(address: str, where: str) -> None:
    """`UsageError` in one line unless a Dask scheduler answers at `address` within CONNECT_TIMEOUT."""
    try:
        await _handshake(address)
    except (OSError, TimeoutError, ValueError) as exc:
        raise _no_scheduler(where, exc) from None
    except Exception as exc:  # bytes that are no Dask frame: numpy's MemoryError, say
        raise UsageError(f"{where}: what answers is not a Dask scheduler ({_first_line(exc)})") from None


async def _handshake(address: str) -> None:
    """Connect and read the scheduler's handshake within CONNECT_TIMEOUT. Dask's own connect waits for
    that handshake for ever: a server that accepts and never answers (an HTTP port, such as the
    dashboard's 8787 typed for the scheduler's 8786) hung `rowrelay run` for good."""
    from dask.utils import parse_timedelta
    from distributed.comm.core import connect

    seconds = parse_timedelta(CONNECT_TIMEOUT)
    bound = seconds + 5  # past connect's own timeout, so a refused connection says so in Dask's words
    try:
        comm = await asyncio.wait_for(connect(address, timeout=seconds), bound)  # type: ignore[no-untyped-call]
    except TimeoutError:
        raise TimeoutError(f"connected, but no Dask handshake came within {bound:g} s") from None
    await comm.close()
