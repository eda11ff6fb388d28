"""The flow's `on_cancellation` hook: cancel the batch's in-flight responses on the server, and the note
of which batch each flow run of this process works on, that the hook reads.

The batch's own runner cancels its in-flight rows when the flow is cancelled in time; this hook reaches
the server when it was not (the flow's process killed, or stopped by a signal that skipped it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from prefect.client.schemas.objects import FlowRun
from prefect.runtime import flow_run as flow_run_context

from rowrelay.flows.cancelling import cancel_batch_async
from rowrelay.flows.run_logs import sent_to_flow_run
from rowrelay.tasks.run.stops import said_on_stop
from rowrelay.tasks.shell_words import shell_arg
from rowrelay.tasks.state import RUN_FILE

log = logging.getLogger("rowrelay.flow")


HOLDER_ENDING = 30.0
"""Seconds the hook waits for the batch's runner to let go of it. Prefect runs the hook as the flow's
process stops, or right after its runner killed that process: the runner may still hold the lease,
cancelling its own rows and closing the table (in a loaded CI run it still held it when the hook ran,
and the hook gave up at once)."""

_ACTIVE: dict[str, Path] = {}
"""State directories of the batches this process is running, by flow run id (for the hook below)."""


async def cancel_on_the_server(flow: object, flow_run: FlowRun, state: object) -> None:
    """on_cancellation: cancel the batch's in-flight responses; the state table stays resumable.

    Prefect may run this hook in the flow's process or, when it had to kill that process, in the
    runner's; so the state directory comes from the run's parameters when given, else from this
    process's record of the batches it is running."""
    # After the flow body, perhaps in another process: its lines name their run to reach its logs.
    with sent_to_flow_run():
        await _cancel_batch_of(flow_run, logging.LoggerAdapter(log, {"flow_run_id": flow_run.id}))


async def _cancel_batch_of(flow_run: FlowRun, say: logging.LoggerAdapter[logging.Logger]) -> None:
    given = (flow_run.parameters or {}).get("state")
    state_dir = Path(given) if given else _ACTIVE.pop(str(flow_run.id), None)
    if state_dir is None or not (state_dir / RUN_FILE).exists():
        say.warning("flow run %s cancelled before its batch started: nothing to cancel", flow_run.id)
        return
    try:
        # Awaited, not run on a thread: in the flow's own process the runner stops on this event loop.
        cancelled = await cancel_batch_async(state_dir, lease_wait=HOLDER_ENDING, stopping=True)
    except Exception:
        say.exception("could not cancel the in-flight responses of %s", state_dir)
        return
    again = f"; `rowrelay cancel {shell_arg(state_dir)}` tries again" if cancelled.unreached else ""
    say.warning("flow run cancelled (batch at %s): %s%s", state_dir, said_on_stop([cancelled]), again)


@contextlib.contextmanager
def running(state_dir: Path) -> Iterator[None]:
    """Note the batch this flow run works on, for the cancellation hook. A run that fails or is
    cancelled leaves the note: the hook, which may run after the flow body has ended, takes it."""
    run_id = flow_run_context.id
    if run_id is not None:
        _ACTIVE[run_id] = state_dir
    yield
    if run_id is not None:
        _ACTIVE.pop(run_id, None)
