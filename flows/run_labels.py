"""A batch's flow run named after the batch and tagged with what it ran on, so every run of a nightly job
can be found in the Prefect UI (filter by tag `batch:NAME`) and told apart by model and backend.

Tags must be on the run when it is created: Prefect's server caches a run's related resources (its tags
among them) for its state-change events for minutes, so tags added later miss the `Failed` event an
automation matches on. So the CLI creates its run inside `tags_for(...)`, and `rowrelay deploy` gives the
deployment these tags, which its runs inherit. From Python the batch id is known only once the input is
read, after the run has started: the flow then renames and tags the run itself (`label_flow_run`), which
the UI and filters see, and keeps the tags it already had.

A deployment's runs are one batch's, run after run, so the batch's name alone named them all alike (a
trial's every run of deployment `minute` was `minute` in the UI), while Prefect's console named each by
the slug its scheduler gave it (`Flow run 'banana-quokka'`): a console line's run could not be found in
the UI. A deployment's run is named after its batch and the time it was scheduled for, in UTC
(`nightly 2026-12-07 02:00 UTC`, `run_name`): `flows/scheduled.py` gives Prefect that name as the run
starts, before its engine's first line, so the console's lines and the UI say the same.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import TYPE_CHECKING

from prefect import tags
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from rowrelay.flows.backends import backend_name
from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.llm.agent_transport import transport_of

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

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


def run_name(batch_id: str, run: FlowRun) -> str:
    """The name of flow run `run` of batch `batch_id`: the batch's, and for a deployment's run the time it
    was scheduled for too (`nightly 2026-12-07 02:00 UTC`; to the second when it has seconds, as a run
    asked for by hand has), so that each of a deployment's runs has a name of its own."""
    when = run.expected_start_time
    if run.deployment_id is None or when is None:
        return batch_id
    at = when.astimezone(UTC)
    return f"{batch_id} {at:%Y-%m-%d %H:%M}{f':{at:%S}' if at.second else ''} UTC"


async def label_flow_run(batch_id: str, model: str, backend: str) -> None:
    """Name the current flow run (`run_name`) and add its tags; a failure is logged, never raised."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    run = context.flow_run
    name = run_name(batch_id, run)
    tags = list(dict.fromkeys([*run.tags, *run_tags(batch_id, model, backend)]))
    try:
        async with get_client() as client:
            await client.update_flow_run(run.id, name=name, tags=tags)
    except Exception:  # a label is a nicety: never fail a batch for one
        log.warning("could not name and tag the flow run", exc_info=True)
        return
    run.name, run.tags = name, tags
