"""The flow's `on_cancellation` hook: cancel the batch's in-flight responses on the server, and the note
of which batch each flow run of this process works on, that the hook reads.

A Prefect cancellation ends the flow with a termination signal rather than an asyncio cancellation, so
the runner's own cancel-on-CancelledError path never runs; this hook is what reaches the server.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from prefect.client.schemas.objects import FlowRun
from prefect.runtime import flow_run as flow_run_context

from rowrelay.flows.cancelling import cancel_batch
from rowrelay.flows.run_logs import sent_to_flow_run
from rowrelay.tasks.state import RUN_FILE

log = logging.getLogger("rowrelay.flow")


_ACTIVE: dict[str, Path] = {}
"""State directories of the batches this process is running, by flow run id (for the hook below)."""


def cancel_on_the_server(flow: object, flow_run: FlowRun, state: object) -> None:
    """on_cancellation: cancel the batch's in-flight responses; the state table stays resumable.

    Prefect may run this hook in the flow's process or, when it had to kill that process, in the
    runner's; so the state directory comes from the run's parameters when given, else from this
    process's record of the batches it is running."""
    # After the flow body, perhaps in another process: its lines name their run to reach its logs.
    with sent_to_flow_run():
        _cancel_batch_of(flow_run, logging.LoggerAdapter(log, {"flow_run_id": flow_run.id}))


def _cancel_batch_of(flow_run: FlowRun, say: logging.LoggerAdapter[logging.Logger]) -> None:
    given = (flow_run.parameters or {}).get("state")
    state_dir = Path(given) if given else _ACTIVE.pop(str(flow_run.id), None)
    if state_dir is None or not (state_dir / RUN_FILE).exists():
        say.warning("flow run %s cancelled before its batch started: nothing to cancel", flow_run.id)
        return
    try:
        cancelled = cancel_batch(state_dir)
    except Exception:
        say.exception("could not cancel the in-flight responses of %s", state_dir)
        return
    say.warning("flow run cancelled: %d in-flight responses of %s cancelled", cancelled, state_dir)


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
