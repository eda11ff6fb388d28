"""One Dask LocalCluster (2 worker processes of 2 threads, as `--dask-workers 2` starts) in a process of
its own, for tests whose behaviour is a run on a cluster, not the cluster's start: they pass its address
(`--dask ADDRESS`, an existing cluster as users give one) instead of each starting a LocalCluster of its
own (`--dask-workers`), which cost each such test a cluster's start and its two workers' imports of
Prefect and rowrelay. tests/cluster/test_dask_runs.py and test_dask_budget.py keep runs through
`--dask-workers` end to end.

The cluster runs in its own process, not the test worker's: a Nanny writes into its parent's
environment (PYTHONHASHSEED, thread counts) and keeps threads and an event loop there. The test asks it
over its stdin for the workers' pids, once both workers are registered with the scheduler. A worker
killed mid-run is started again by its nanny (some 6 s on an idle cluster), but twice at load 11-13 the
new worker had not joined a minute after a killed run ended: a test that kills one closes the cluster
after it, and wherever the workers have not all joined within _READY_WITHIN, `SharedClusters.ready`
starts a fresh cluster, so a test never starts on one worker: at worst, what each test paid before.

    python -m tests.support.dask_cluster      # prints the scheduler's address; answers `workers`,
                                              # `drop` (every worker closed for good) and `add`
                                              # (WORKERS workers started again) lines
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from tests.support.cli import ROOT

WORKERS = 2
_READY_WITHIN = 60.0
"""A bound, not a wait: a worker's restart after a kill takes a few seconds, more on a loaded machine."""


class SharedCluster:
    """The cluster's process: `address` is its scheduler's; `worker_pids` its workers', both joined."""

    def __init__(self, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "tests.support.dask_cluster"]  # from ROOT: `tests` resolves
        self._process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            self.address = self._answer()
        except BaseException:
            self.close()
            raise

    def worker_pids(self) -> list[int] | None:
        """The pids of the cluster's workers once all of them are registered with the scheduler, or None
        when they have not all joined within _READY_WITHIN."""
        assert self._process.stdin is not None
        self._process.stdin.write("workers\n")
        self._process.stdin.flush()
        pids = json.loads(self._answer())
        return None if pids is None else [int(pid) for pid in pids]

    def drop_workers(self) -> None:
        """Close every worker and its nanny, none to start again (the cluster scaled to none), and return
        once the scheduler holds none: a cluster that lost every worker for good."""
        assert self._process.stdin is not None
        self._process.stdin.write("drop\n")
        self._process.stdin.flush()
        assert self._answer() == "dropped"

    def add_workers(self) -> None:
        """Start WORKERS workers again, as a batch system grants a cluster's workers, and return once
        they are asked for (`worker_pids` waits for them to join)."""
        assert self._process.stdin is not None
        self._process.stdin.write("add\n")
        self._process.stdin.flush()
        assert self._answer() == "adding"

    def kill_scheduler(self) -> None:
        """SIGKILL the cluster's process, its scheduler and nannies in it (their workers, each watching
        its nanny's process, exit with it): a scheduler gone at once, as when its machine is lost, with
        no word to its clients."""
        self._process.kill()
        self._process.wait()

    def stop_scheduler(self) -> None:
        """SIGSTOP the cluster's process: its scheduler keeps its connections open and answers nothing, as
        a hung one. `kill_scheduler` ends it (a stopped process takes no `close`)."""
        self._process.send_signal(signal.SIGSTOP)

    def _answer(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"the shared Dask cluster ended (exit {self._process.wait()})")
        return line

    def close(self) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.close()  # the cluster closes, its workers with it
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()


class SharedClusters:
    """A module's cluster, started when first asked for, started afresh when its workers do not all
    join (`ready`)."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._cluster: SharedCluster | None = None

    def ready(self) -> tuple[SharedCluster, list[int]]:
        """The cluster and its workers' pids, every worker joined."""
        if self._cluster is not None:
            pids = self._cluster.worker_pids()
            if pids is not None:
                return self._cluster, pids
            self.close()
        self._cluster = SharedCluster(self._env)
        pids = self._cluster.worker_pids()
        assert pids is not None, "a new cluster's workers did not all join"
        return self._cluster, pids

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


@contextlib.contextmanager
def shared_clusters(env: dict[str, str]) -> Iterator[SharedClusters]:
    clusters = SharedClusters(env)
    try:
        yield clusters
    finally:
        clusters.close()


def _joined_pids(client: Any) -> list[int] | None:
    """Every worker's pid once WORKERS of them are registered and answer (after a kill, the dead one may
    still be registered for a moment, and its nanny's new worker not yet); None past _READY_WITHIN."""
    deadline = time.monotonic() + _READY_WITHIN
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a worker gone between the wait and the call: ask again
            client.wait_for_workers(WORKERS, timeout=max(deadline - time.monotonic(), 0.1))
            pids = client.run(os.getpid)
            if len(pids) == WORKERS:
                return sorted(pids.values())
        time.sleep(0.2)
    return None


def _serve() -> None:
    from distributed import Client, LocalCluster

    from rowrelay.flows.cluster import LOCAL_CLUSTER_HTTP, THREADS_PER_WORKER

    with (
        LocalCluster(
            n_workers=WORKERS, threads_per_worker=THREADS_PER_WORKER, **LOCAL_CLUSTER_HTTP
        ) as cluster,  # type: ignore[no-untyped-call]
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        print(cluster.scheduler_address, flush=True)
        for line in sys.stdin:
            if line.strip() == "workers":
                print(json.dumps(_joined_pids(client)), flush=True)
            elif line.strip() == "drop":
                cluster.scale(0)  # the nannies closed with their workers: none restarts them
                while client.scheduler_info(n_workers=-1)["workers"]:
                    time.sleep(0.1)
                print("dropped", flush=True)
            elif line.strip() == "add":
                cluster.scale(WORKERS)
                print("adding", flush=True)


if __name__ == "__main__":
    _serve()
