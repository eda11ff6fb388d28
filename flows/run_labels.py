"""A batch's flow run named after the batch and tagged with what it ran on, so every run of a nightly job
can be found in the Prefect UI (filter by tag `batch:NAME`) and told apart by model and backend.

The batch id (its state directory's name) is known only once the input is read and the state table
opened, after the flow run has started, so the run is renamed and tagged then; tags it already had (a
deployment's) are kept.
"""

from __future__ import annotations

import logging

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

log = logging.getLogger("rowrelay.flow")


def run_tags(batch_id: str, model: str, backend: str) -> list[str]:
    return ["rowrelay", f"batch:{batch_id}", f"model:{model}", f"backend:{backend}"]


async def label_flow_run(batch_id: str, model: str, backend: str) -> None:
    """Name the current flow run `batch_id` and add its tags; a failure is logged, never raised."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    run = context.flow_run
    tags = list(dict.fromkeys([*run.tags, *run_tags(batch_id, model, backend)]))
    try:
        async with get_client() as client:
            await client.update_flow_run(run.id, name=batch_id, tags=tags)
    except Exception:  # a label is a nicety: never fail a batch for one
        log.warning("could not name and tag the flow run", exc_info=True)
        return
    run.name, run.tags = batch_id, tags
