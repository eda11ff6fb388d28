"""A batch's flow run named after the batch and tagged with what it ran on, so every run of a nightly job
can be found in the Prefect UI (filter by tag `batch:NAME`) and told apart by model and backend.

Tags must be on the run when it is created: Prefect's server caches a run's related resources (its tags
among them) for its state-change events for minutes, so tags added later miss the `Failed` event an
automation matches on. So the CLI creates its run inside `tags_for(...)`, and `rowrelay deploy` gives the
deployment these tags, which its runs inherit. From Python the batch id is known only once the input is
read, after the run has started: the flow then renames and tags the run itself (`label_flow_run`), which
the UI and filters see, and keeps the tags it already had.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

from prefect import tags
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from rowrelay.flows.backends import backend_name
from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.llm.agent_transport import transport_of

log = logging.getLogger("rowrelay.flow")


def run_tags(batch_id: str, model: str, backend: str) -> list[str]:
    return ["rowrelay", f"batch:{batch_id}", f"model:{model}", f"backend:{backend}"]


def tags_of(batch_id: str, request: BatchRequest) -> list[str]:
    """The tags of a batch's runs, before any run starts (`auto` resolved as the run will resolve it; an
    endpoints run's by each endpoint's, as `targets.backend_label` says it once running)."""
    endpoints = request.endpoints or ()
    served = [backend_name(endpoint.settings) for endpoint in endpoints] or [backend_name(request.settings)]
    return run_tags(batch_id, request.settings.model, backends_said(served))


def backends_said(backends: Iterable[str]) -> str:
    """A run's backends as its tag and closing line say them: one, or several joined (`chat+openai`);
    `agent` by the server it reaches (`agent_transport`)."""
    return "+".join(sorted({transport_of(backend) for backend in backends}))


@contextlib.contextmanager
def tags_for(batch_id: str, request: BatchRequest) -> Iterator[None]:
    """Flow runs created in the block carry the batch's tags from their creation."""
    with tags(*tags_of(batch_id, request)):
        yield


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
