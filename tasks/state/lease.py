"""A lease per (batch, writer): one live runner per shard, refused loudly, taken over when stale.

The lease is `DIR/leases/<writer>.json`, written atomically: host, pid, since, heartbeat and a random
token, those six keys only, as every release reads them (an earlier one reads a lease with a key it does
not know as no lease, and takes a live holder's over). A holder running as a Prefect flow run records
that run beside it (tasks/state/lease_flow_run.py), so the run taking the batch over from a holder killed
outright can mark it Crashed (flows/killed_runs.py). Its holder refreshes `heartbeat` (the table does it
at checkpoints) and checks its token before each write, so a holder that lost its lease to a takeover
stops instead of clobbering its successor's files.
A lease is stale when its holder's pid is gone on this host, or its heartbeat is older than `timeout`.
Acquiring is a read-decide-write made exclusive across processes by `flock` on `leases/<writer>.lock`;
flock is released by the kernel if the process dies, so the critical section cannot wedge.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rowrelay.tasks.durable import atomic_write_bytes, make_dirs_durable
from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.processes import gone_here
from rowrelay.tasks.state.files import LEASES, writing
from rowrelay.tasks.state.lease_flow_run import (
    FlowRunLeft,
    flow_run_held_as,
    left_running,
    record,
    remove_if_of,
)
from rowrelay.tasks.state.schema import to_datetime
from rowrelay.tasks.state_folder_errors import StateWriteDeniedError

log = logging.getLogger(__name__)
LEASE_TIMEOUT = 60.0
"""Seconds without a heartbeat after which a lease is stale (its holder is taken to be gone)."""


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    writer: str
    host: str
    pid: int
    since: float
    heartbeat: float
    token: str

    def describe(self) -> str:
        since = to_datetime(self.since).isoformat(timespec="seconds")
        beat = to_datetime(self.heartbeat).isoformat(timespec="seconds")
        return f"host={self.host} pid={self.pid} since={since} heartbeat={beat}"


_FIELDS = frozenset(field.name for field in fields(LeaseInfo))


def read_lease(path: Path) -> LeaseInfo | None:
    """The lease at `path`, or None if there is none or it is unreadable (a torn lease holds nothing).
    Fields it does not know (a later release's) are passed over: read as no lease, a live holder's
    lease would be taken over. This release writes none (`LeaseInfo`'s six, as earlier ones read)."""
    try:
        data: Any = json.loads(path.read_bytes())
        return LeaseInfo(**{name: value for name, value in data.items() if name in _FIELDS})
    except (FileNotFoundError, ValueError, TypeError, AttributeError):
        return None


def stale_reason(info: LeaseInfo, now: float, timeout: float) -> str | None:
    """Why the lease no longer protects anything, or None if its holder looks alive."""
    if gone_here(info.host, info.pid):
        return f"holder pid {info.pid} is gone"
    if now - info.heartbeat > timeout:
        return f"heartbeat {now - info.heartbeat:.1f}s old (timeout {timeout:g}s)"
    return None


def live_holder(directory: Path, writer: str, now: float, timeout: float = LEASE_TIMEOUT) -> LeaseInfo | None:
    """The live runner holding `writer`'s lease, if any (read only: nothing is taken)."""
    info = read_lease(directory / LEASES / f"{writer}.json")
    return info if info is not None and stale_reason(info, now, timeout) is None else None


def writer_is_live(directory: Path, writer: str, now: float, timeout: float) -> bool:
    """Whether some live runner holds `writer`'s lease (used to leave its in-flight rows alone)."""
    return live_holder(directory, writer, now, timeout) is not None


def live_holders(directory: Path, now: float, timeout: float = LEASE_TIMEOUT) -> list[LeaseInfo]:
    """The live holders of any writer's lease on the batch, by writer (read only: nothing is taken)."""
    folder = directory / LEASES
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    infos = [read_lease(path) for path in paths]
    return [info for info in infos if info is not None and stale_reason(info, now, timeout) is None]


def live_beside(directory: Path, writer: str, now: float, timeout: float = LEASE_TIMEOUT) -> LeaseInfo | None:
    """A live holder of another writer's lease on the batch than `writer` (a shard on a Dask worker, a
    repair), if any. The main writer is not alone while one runs: a run taking a coordinator's lease over
    (killed while its Dask tasks run on, or silent) and sending the shards' rows again paid for them twice."""
    others = [info for info in live_holders(directory, now, timeout) if info.writer != writer]
    return others[0] if others else None


WHEN_IT_ENDS = "wait for that run to end (or stop it), then run the same command to resume"
"""The way on from a batch a live run holds, for a run (the command line's `run`, `run_batch` from Python):
said by the error itself, so a caller from Python reads what the command line says. A command whose way
on differs says its own (`LeaseHeldError.said`)."""


IN_THIS_PROCESS = (
    "that run is this process's own (a run_batch another cell, thread or task started, still going): let "
    "it end, or interrupt it, then try again"
)
"""The way on where the live holder is the caller's own process: a notebook's kernel running a batch from
a cell, thread or task still going, and asked to run (or cancel) it again. Named as 'a live runner' with
"(or stop it)", its pid sent the user looking for another process to stop: their own kernel."""


def held_error(directory: Path, holder: LeaseInfo) -> LeaseHeldError:
    """The refusal of a second runner: names the batch, the writer and its live holder, and the way on."""
    if holder.pid == os.getpid() and holder.host == socket.gethostname():
        return LeaseHeldError(
            f"{directory}: writer {holder.writer!r} is held by a run in this process ({holder.describe()})",
            way_on=IN_THIS_PROCESS,
        )
    return LeaseHeldError(
        f"{directory}: writer {holder.writer!r} is held by a live runner ({holder.describe()})",
        way_on=WHEN_IT_ENDS,
    )


def refuse_beside(directory: Path, lease: Lease, timeout: float) -> None:
    """Refuse `lease`'s writer the batch, as a second run is refused (`held_error`), while another
    writer's lease of it is live (`live_beside`). Asked once `lease` is held, so a shard starting
    meanwhile could only start under a live coordinator, which holds the lease this one could not take."""
    holder = live_beside(directory, lease.info.writer, lease.info.heartbeat, timeout)
    if holder is not None:
        raise held_error(directory, holder)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold the flock guarding the read-decide-write of the lease at `path`."""
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def lease_lock(directory: Path, writer: str) -> Iterator[None]:
    """Hold the lock under which `writer`'s lease is taken: no run takes it meanwhile (`run_end` notes a
    run's end on the batch's record under it, the run's lease given up already)."""
    with _exclusive(directory / LEASES / f"{writer}.json"):
        yield


@contextmanager
def _denied_said(folder: Path) -> Iterator[None]:
    """A write this user may not make, taking the lease (the first write into the batch's folder), said
    as such: `StateWriteDeniedError`, naming the folder the write was refused in (the lease folder, or
    the batch's own where that could not be made), not the run-stopping `StateWriteError`."""
    try:
        yield
    except PermissionError as exc:
        refused = Path(exc.filename) if exc.filename else folder
        within = refused if refused.is_dir() else refused.parent
        raise StateWriteDeniedError(str(within), exc.strerror or str(exc)) from exc


class Lease:
    """The held lease of one writer. Create with `Lease.acquire`; `release` when done."""

    def __init__(
        self,
        path: Path,
        info: LeaseInfo,
        clock: Callable[[], float],
        takeover: str | None,
        left: FlowRunLeft | None = None,
    ):
        self.path = path
        self.info = info
        self.takeover = takeover
        """Set when this lease was taken over from a stale holder: who and why."""
        self.left_running = left
        """The flow run a holder that died (or went silent) left recorded beside the lease, to be marked."""
        self._clock = clock

    @classmethod
    def acquire(cls, directory: Path, writer: str, *, timeout: float, clock: Callable[[], float]) -> Lease:
        """Take `writer`'s lease, or raise `LeaseHeldError` naming the live holder. A folder that cannot
        be written (read-only, full) is the `StateWriteError` every command says in one line: `retry`,
        `repair` and `cancel` ended in a traceback (EROFS opening the lock), exit 1; one this user may not
        write is the `StateWriteDeniedError` saying so."""
        folder = directory / LEASES
        path = folder / f"{writer}.json"
        with writing(path), _denied_said(folder):
            make_dirs_durable(folder)
            with _exclusive(path):
                now = clock()
                current = read_lease(path)
                takeover: str | None = None
                stale: tuple[str, str] | None = None  # the stale lease's token, and why it was stale
                if current is not None:
                    reason = stale_reason(current, now, timeout)
                    if reason is None:
                        raise held_error(directory, current)
                    takeover = f"took over stale lease of {current.describe()}: {reason}"
                    stale = (current.token, reason)
                    log.warning("%s: %s", path, takeover)
                left = left_running(path, stale)  # read before a sidecar of ours replaces it
                info = LeaseInfo(writer, socket.gethostname(), os.getpid(), now, now, secrets.token_hex(8))
                atomic_write_bytes(path, json.dumps(asdict(info)).encode())
                flow_run = flow_run_held_as()
                if flow_run is not None:
                    record(path, flow_run, info.token, info.host, info.pid)
        return cls(path, info, clock, takeover, left)

    def forget_left_running(self) -> None:
        """Remove the sidecar of the holder this lease's taker found dead (`left_running`), once told of
        it, if no sidecar of this holder's own has replaced it already."""
        if self.left_running is not None:
            with contextlib.suppress(OSError), _exclusive(self.path):
                remove_if_of(self.path, self.left_running.token)

    def check(self) -> None:
        """Raise `LeaseHeldError` if someone else now holds this lease (we were taken over)."""
        current = read_lease(self.path)
        if current is None or current.token != self.info.token:
            holder = current.describe() if current else "nobody"
            raise LeaseHeldError(f"{self.path}: lease lost, now held by {holder}")

    def heartbeat(self) -> None:
        """Refresh the heartbeat (after checking the lease is still ours). Between segments too
        (`StateTable.commit`): a folder that cannot be written fails here first, as a `StateWriteError`."""
        with writing(self.path), _exclusive(self.path):
            self.check()
            self.info = LeaseInfo(**{**asdict(self.info), "heartbeat": self._clock()})
            atomic_write_bytes(self.path, json.dumps(asdict(self.info)).encode())

    def release(self) -> None:
        """Give the lease up, if it is still ours (idempotent). A folder that cannot be written any more
        (gone read-only, a full disk) keeps it, said in a warning: the next run takes it over as stale
        once this process has ended. Raised, it hid the error that stopped the run (a `StateWriteError`,
        one line) behind a traceback of its own, as the table closed."""
        try:
            with _exclusive(self.path):
                current = read_lease(self.path)
                if current is not None and current.token == self.info.token:
                    self.path.unlink(missing_ok=True)
                remove_if_of(self.path, self.info.token)  # its flow run, if it recorded one: ours alone
        except OSError as exc:
            log.warning(
                "%s: could not give the lease up (%s): the next run takes it over once this process ends",
                self.path,
                exc.strerror or exc,
            )
