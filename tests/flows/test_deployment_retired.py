"""Retiring a deployment as the README says: stopping its `rowrelay deploy` leaves its schedule active, and
Prefect's scheduler goes on planning runs nothing serves (a trial's local server held 380 `Scheduled` and
56 `Late`). `prefect deployment delete` removes the deployment with every run of it not yet started, late
ones too; `prefect deployment schedule pause` removes only the runs planned for the future, and the late
ones would start as soon as the deployment is served again.

It checks the README's commands, which are Prefect's own CLI: what it asserts is Prefect's doing, so no
change of rowrelay's can fail it (short of `rowrelay deploy`, which it serves the deployment with, not
serving at all); a Prefect whose commands behave otherwise can (re-run it when bumping Prefect). Marked
slow, as the other served deployment tests are: a real Prefect server, a served deployment, two CLI runs.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.support.cli import ROOT
from tests.support.deployments import plan_runs, serving, stopped, wait_for_deployment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def _not_started(deployment_id: UUID) -> list[datetime]:
    """When the deployment's runs still `Scheduled` (or `Late`) are due, by the flow runs' own record."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    only_it = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
    )
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=only_it)
    return sorted(run.expected_start_time for run in runs if run.expected_start_time is not None)


def _prefect(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "prefect", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("retired_by", ["delete", "schedule pause"])
async def test_a_deployment_no_longer_served_is_retired_as_the_readme_says(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, retired_by: str
) -> None:
    name = f"retire-{retired_by.replace(' ', '-')}"
    console = tmp_path / f"serve-{name}.log"
    with running_emulator(EmulatorConfig()) as emu:
        server = serving(name, prefect_env, emu.url, tmp_path, 2, console)
        try:
            deployment = await wait_for_deployment(f"rowrelay-batch/{name}", console)
        finally:
            stopped(server)  # no longer served: its schedule still plans runs
    deployment_id: UUID = deployment.id  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    await plan_runs(deployment_id, now - timedelta(days=3), now + timedelta(days=3), min_runs=6, max_runs=100)
    planned = await _not_started(deployment_id)
    late = [when for when in planned if when < now]
    assert late, planned
    assert len(late) < len(planned), planned  # some due in the future too

    full_name = f"rowrelay-batch/{name}"
    if retired_by == "delete":
        _prefect(prefect_env, "deployment", "delete", full_name)
        assert await _not_started(deployment_id) == []
    else:
        schedule_id = str(deployment.schedules[0].id)  # type: ignore[attr-defined]
        _prefect(prefect_env, "deployment", "schedule", "pause", full_name, schedule_id)
        assert await _not_started(deployment_id) == late  # the late ones stay, to start once served
