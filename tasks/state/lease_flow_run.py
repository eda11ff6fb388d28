"""The Prefect flow run a lease's holder runs as, kept beside the lease: `DIR/leases/<writer>.flow_run`.

A run killed outright cannot end its flow run, which stays `Running`; the next run that takes the batch
marks it `Crashed` (flows/killed_runs.py), and to do so it must know which flow run that was. The lease
itself cannot say: every earlier release reads a lease with `LeaseInfo(**data)`, so a key it does not know
makes it read a live lease as *no* lease and take it over, sending the same rows again (paid twice). The
lease keeps its six keys, and the flow run goes in this sidecar, which earlier releases never read.

The sidecar names the lease it belongs to (its token, host and pid). Its holder writes it right after
taking the lease and removes it in its own release. So a sidecar found by whoever takes the lease (the
lease being gone or stale, or it could not be taken) is one its holder left when it died or stopped
renewing: the next run that takes the batch is told of it (`FlowRunLeft`), marks that flow run, and
forgets it. `retry`, `cancel` and `repair` take the lease outside any flow run: they write no sidecar and
remove none, so a killed run's flow run is still marked by the run after them. Each read or write here
is made under the lease's flock, by `Lease` (tasks/state/lease.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rowrelay.tasks.durable import atomic_write_bytes
from rowrelay.tasks.processes import gone_here

log = logging.getLogger(__name__)
SUFFIX = ".flow_run"
"""Not `.json`: whatever lists a batch's leases (`leases/*.json`, in every release) passes it over."""

_flow_run: ContextVar[str | None] = ContextVar("rowrelay_lease_flow_run", default=None)
"""The flow run the code in this context runs as: recorded beside the leases it takes."""


@contextmanager
def holding_as(flow_run: str | None) -> Iterator[None]:
    """Leases taken in the block record `flow_run` as their holder's Prefect flow run. A context, not a
    parameter: the run's lease is taken deep in the table's opening, which knows nothing of Prefect."""
    token = _flow_run.set(flow_run)
    try:
        yield
    finally:
        _flow_run.reset(token)


def flow_run_held_as() -> str | None:
    """The flow run a lease taken here would record (none outside `holding_as`)."""
    return _flow_run.get()


@dataclass(frozen=True, slots=True)
class FlowRunLeft:
    """A flow run whose holder left the batch without releasing its lease: killed, or silent."""

    flow_run: str
    token: str
    """The token of the lease its holder took (which sidecar is whose)."""
    host: str
    pid: int
    process_gone: bool
    """Its holder's process is known to be gone (its pid, on this host); else it only stopped renewing."""
    reason: str
    """Why its lease no longer protected anything, as the lease's takeover says it."""


def sidecar_of(lease_path: Path) -> Path:
    return lease_path.with_suffix(SUFFIX)


def read_sidecar(lease_path: Path) -> dict[str, Any] | None:
    """The sidecar beside `lease_path` (flow_run, token, host, pid), or None if none or unreadable."""
    try:
        data: Any = json.loads(sidecar_of(lease_path).read_bytes())
        if isinstance(data, dict) and all(isinstance(data.get(key), str) for key in ("flow_run", "token")):
            return data
    except (OSError, ValueError):
        pass
    return None


def left_running(lease_path: Path, stale: tuple[str, str] | None) -> FlowRunLeft | None:
    """The flow run a dead holder left beside the lease being taken at `lease_path`, if any. `stale` is
    the lease found there, if stale (its token, and why); a sidecar of another lease (one `cancel` took
    over and gave up) is its holder's all the same: a live holder's lease is never taken."""
    data = read_sidecar(lease_path)
    if data is None:
        return None
    host, pid = str(data.get("host", "")), int(data.get("pid", 0))
    gone = gone_here(host, pid)
    if stale is not None and stale[0] == data["token"]:
        reason = stale[1]
    else:
        reason = f"holder pid {pid} is gone" if gone else "its lease went stale and was taken over"
    return FlowRunLeft(data["flow_run"], data["token"], host, pid, gone, reason)


def record(lease_path: Path, flow_run: str, token: str, host: str, pid: int) -> None:
    """Write the sidecar of the lease just taken. It cannot be written (a full disk): a warning, and the
    run goes on (the mark it serves is a courtesy), its flow run unmarked if it is killed."""
    body = {"flow_run": flow_run, "token": token, "host": host, "pid": pid}
    try:
        atomic_write_bytes(sidecar_of(lease_path), json.dumps(body).encode())
    except OSError as exc:
        log.warning(
            "%s: could not record flow run %s beside the lease (%s): if killed, it stays Running in Prefect",
            sidecar_of(lease_path), flow_run, exc.strerror or exc,
        )  # fmt: skip


def remove_if_of(lease_path: Path, token: str) -> None:
    """Remove the sidecar if it is the one of the lease with `token` (never another holder's)."""
    data = read_sidecar(lease_path)
    if data is not None and data["token"] == token:
        sidecar_of(lease_path).unlink(missing_ok=True)
