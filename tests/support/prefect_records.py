"""What one flow run left in the test's Prefect server: its artifacts, its logs, the run itself.

Every read is filtered by the flow run's id: the server is shared by the whole test session, so a read
by key or by name could find another test's run and pass on its records.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.schemas.objects import Artifact, FlowRun, Log, TaskRun

_PAGE = 200  # the server's default (and maximum) page size


async def artifacts_of(flow_run_id: UUID) -> list[Artifact]:
    """Every artifact the flow run published (a progress artifact is a single row, updated in place)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        return await client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


async def logs_of(flow_run_id: UUID) -> list[Log]:
    """Every log record the server stored for the flow run (and its task runs), oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    found: list[Log] = []
    async with get_client() as client:
        while True:
            page = await client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=_PAGE, offset=len(found)
            )
            found.extend(page)
            if len(page) < _PAGE:
                return found


async def task_runs_of(flow_run_id: UUID) -> list[TaskRun]:
    """The flow run's task runs (load, plan, shards, export)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        return await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=_PAGE
        )


async def flow_run_on(state_dir: Path) -> FlowRun:
    """The one batch flow run whose `state` parameter is `state_dir` (a run started in another process,
    by the CLI, whose id this process never sees)."""
    mine = await flow_runs_on(state_dir)
    assert len(mine) == 1, f"expected one flow run on {state_dir}, found {len(mine)}"
    return mine[0]


async def flow_runs_on(state_dir: Path) -> list[FlowRun]:
    """Every batch flow run whose `state` parameter is `state_dir`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    runs: list[FlowRun] = []
    named = FlowFilter(name=FlowFilterName(any_=["rowrelay-batch"]))
    async with get_client() as client:
        while True:
            page = await client.read_flow_runs(flow_filter=named, limit=_PAGE, offset=len(runs))
            runs.extend(page)
            if len(page) < _PAGE:
                break
    return [run for run in runs if run.parameters.get("state") == str(state_dir)]
