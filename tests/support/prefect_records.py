"""What one flow run left in the test's Prefect server: its artifacts.

Every read is filtered by the flow run's id: the server is shared by the whole test session, so a read
by key or by name could find another test's run and pass on its records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.schemas.objects import Artifact


async def artifacts_of(flow_run_id: UUID) -> list[Artifact]:
    """Every artifact the flow run published (a progress artifact is a single row, updated in place)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        return await client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
