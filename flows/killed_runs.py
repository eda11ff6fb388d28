"""A run killed outright leaves its Prefect flow run `Running`: the run that takes its batch over ends it.

A run killed hard (`kill -9`, the out-of-memory killer, a reboot) cannot tell Prefect it stopped, so its
flow run stayed `Running` for ever, in the UI and in `prefect flow-run ls`, beside the runs that resumed
its batch. rowrelay knows better: beside the batch's lease, its holder records the flow run it runs as
(`leases_name_this_flow_run`; tasks/state/lease_flow_run.py), removing it when it gives the lease up. The
next run to take the batch, finding such a record left, marks that flow run `Crashed`, saying why and
which run resumed the batch (`mark_killed_holder_crashed`), and removes it. `retry`, `cancel` and
`repair` taking the stale lease in between leave the record for it.

The mark is a courtesy to whoever reads Prefect, never a condition of the run: an API that does not
answer within a few seconds, or does not know the run (it was recorded on another server), or refuses
the change, is said in one warning and the run goes on. A flow run already ended (its run stopped the
right way, only its lease left behind; or Prefect's own zombie detection got there first) is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.responses import OrchestrationResult, SetStateStatus
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed

from rowrelay.tasks.state.lease import Lease
from rowrelay.tasks.state.lease_flow_run import FlowRunLeft, holding_as

__all__ = ["leases_name_this_flow_run", "mark_killed_holder_crashed"]
log = logging.getLogger("rowrelay.flow")

MARK_SECONDS = 5.0
"""How long the run gives the Prefect API to take the mark before it goes on without it."""


@contextlib.contextmanager
def leases_name_this_flow_run() -> Iterator[None]:
    """Leases taken in the block record the current flow run's id (none outside a flow run)."""
    context = FlowRunContext.get()
    flow_run = context.flow_run if context is not None else None
    with holding_as(None if flow_run is None else str(flow_run.id)):
        yield


async def mark_killed_holder_crashed(lease: Lease, *, within: float = MARK_SECONDS) -> None:
    """Mark `Crashed` the flow run a dead holder left recorded beside `lease` as it was taken, if that
    run is not ended; a failure to is one warning, never raised, and waits at most `within`. Either way
    the record is then removed: the mark is tried once, by the run that took the batch."""
    left = lease.left_running
    if left is None:
        return
    try:
        await _mark(left, within)
    finally:
        lease.forget_left_running()


async def _mark(left: FlowRunLeft, within: float) -> None:
    flow_run = left.flow_run
    try:
        async with asyncio.timeout(within):
            refused = await _marked(UUID(flow_run), _message(left))
    except TimeoutError:
        refused = f"the Prefect API did not answer within {within:g} s"
    except ObjectNotFound:
        refused = "the Prefect API this run records in does not know it (it was recorded elsewhere)"
    except Exception as exc:  # the mark is a courtesy: nothing about it may stop the run
        refused = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
    if refused is not None:
        log.warning(
            "could not mark flow run %s Crashed (the run it recorded, pid %s on %s, left the lease this "
            "run took over): %s; it may still show Running in Prefect",
            flow_run, left.pid, left.host, refused,
        )  # fmt: skip


async def _marked(flow_run: UUID, message: str) -> str | None:
    """Set `flow_run` Crashed with `message` unless it has ended; why the API refused, else None."""
    async with get_client() as client:
        found = await client.read_flow_run(flow_run)
        if found.state is not None and found.state.is_final():
            return None
        result: OrchestrationResult[None] = await client.set_flow_run_state(
            flow_run, Crashed(message=message)
        )
    if result.status == SetStateStatus.ACCEPT:
        log.info("marked flow run %s (%s) Crashed: %s", found.name, flow_run, message)
        return None
    reason = getattr(result.details, "reason", None)
    return f"the API answered {result.status.value}" + (f" ({reason})" if reason else "")


def _message(left: FlowRunLeft) -> str:
    """Why the run ended, as its flow run's state says it: its process is gone, and who took over."""
    process = f"its process (pid {left.pid} on {left.host})"
    how = "is gone" if left.process_gone else f"stopped renewing the batch's lease ({left.reason})"
    context = FlowRunContext.get()
    now = context.flow_run if context is not None else None
    by = "a later run" if now is None else f"run {now.name} (flow run {now.id})"
    return f"{process} {how}; {by} resumed the batch"
