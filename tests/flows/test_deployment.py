"""Scheduled jobs: `rowrelay deploy` serves a cron deployment on a real Prefect server.

Run through `run_deployment` it completes; a second run due meanwhile waits its turn and resumes the
same state instead of resubmitting; cancelled from the Prefect API it cancels the batch's in-flight
responses on the server and leaves a resumable state table.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import holds_tokens
from tests.support.deployments import served, wait_for_deployment
from tests.support.local_prefect import stopped_afterwards
from tests.support.prefect_records import logs_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
]


async def test_the_cron_deployment_runs_and_a_run_due_while_another_goes_waits_then_resumes(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    """Every run of the deployment works on one state. A run due while another was still going (a long
    night, or the runs a restarted server catches up on) started at once and failed on the batch's
    lease: a `Failed` run, which the README's alert reports as too many rows failed. Now it waits its
    turn, then resumes the batch the first finished instead of resubmitting it: nothing is sent again."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment

    log = tmp_path / "serve-ci.log"
    with (
        running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:3"))) as emu,
        served("ci", prefect_env, emu, tmp_path, rows=6) as (name, state),
    ):
        deployment = await wait_for_deployment(name, log)
        schedules = deployment.schedules  # type: ignore[attr-defined]
        assert [s.schedule.cron for s in schedules] == ["0 3 * * *"]
        assert f"batch:{state.name}" in deployment.tags  # type: ignore[attr-defined]  # its runs inherit it
        runs = [await arun_deployment(name, timeout=0) for _ in range(2)]
        deadline = time.monotonic() + 200
        async with get_client() as client:
            while True:
                ran = [await client.read_flow_run(run.id) for run in runs]
                states = [run.state for run in ran]
                if all(s is not None and s.is_final() for s in states):
                    break
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.5)
        assert [s.type.value for s in states if s is not None] == ["COMPLETED", "COMPLETED"], states
        for run in ran:
            assert {f"batch:{state.name}", "backend:emulator"} <= set(run.tags)
        assert len(emu.emulator.listing()) == 6  # the second found the batch done: nothing sent again
    assert (load(state)["status"] == "completed").all()
    said = log.read_text()  # the server was stopped by SIGTERM, as a service is
    assert "Traceback" not in said, said[-2000:]
    assert "never awaited" not in said, said[-2000:]


async def test_cancelling_the_flow_run_cancels_in_flight_responses_on_the_server(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment
    from prefect.states import Cancelling

    with (
        running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu,
        served("cancel-me", prefect_env, emu, tmp_path, rows=12) as (name, state),
    ):
        await wait_for_deployment(name, tmp_path / "serve-cancel-me.log")
        run = await arun_deployment(name, timeout=0)
        deadline = time.monotonic() + 120
        # Cancel once every row's token is durable: a row whose create is still unanswered has no id
        # to cancel with (it becomes a counted orphan instead, as the kill tests show).
        while not holds_tokens(state, 12):
            assert time.monotonic() < deadline, (tmp_path / "serve-cancel-me.log").read_text()[-3000:]
            await asyncio.sleep(0.2)
        async with get_client() as client:
            await client.set_flow_run_state(run.id, Cancelling(), force=True)
            while True:
                current = await client.read_flow_run(run.id)
                assert current.state is not None
                if current.state.is_final():
                    break
                assert time.monotonic() < deadline + 60
                await asyncio.sleep(0.5)
        assert current.state.is_cancelled(), current.state
        # The on_cancellation hook may still be cancelling when the run shows CANCELLED.
        while {r["status"] for r in emu.emulator.listing()} != {"cancelled"}:
            assert time.monotonic() < deadline + 90, (tmp_path / "serve-cancel-me.log").read_text()[-3000:]
            await asyncio.sleep(0.2)
        # The hook's own line reaches the run's logs, though it runs after the flow body.
        # (What it says it cancelled depends on whether the runner's own stop got there first.)
        said = f"flow run cancelled (batch at {state}): "
        while not any(log.message.startswith(said) for log in await logs_of(run.id)):
            assert time.monotonic() < deadline + 120, (tmp_path / "serve-cancel-me.log").read_text()[-3000:]
            await asyncio.sleep(0.5)
    frame = load(state)
    # Cut short by the stop, not given up on: the deployment's next run sends them again.
    assert (set(frame["status"]), set(frame["error_type"])) == ({"cancelled"}, {"interrupted"})


async def test_with_no_prefect_api_configured_the_schedule_runs_on_rowrelays_local_server(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """Prefect's ephemeral server has no scheduler: `deploy` with no API configured served a deployment
    whose cron never fired, said only in Prefect's own warning. It now registers it on the local server
    `run` starts once and reuses, whose scheduler plans its runs, and a run of it completes there."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.deployments import arun_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from rowrelay.flows.local_prefect import answers, read_server

    home = tmp_path / "home"
    env = {key: value for key, value in prefect_env.items() if key != "PREFECT_API_URL"}
    env["ROWRELAY_HOME"] = str(home)
    log = tmp_path / "serve-local.log"
    with (
        running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu,
        stopped_afterwards(home),
        served("local", env, emu, tmp_path, rows=3) as (name, state),
    ):
        deadline = time.monotonic() + 120
        while (record := read_server(home)) is None or not answers(record.url, timeout=1.0):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        with temporary_settings(updates={PREFECT_API_URL: record.url}):
            deployment = await wait_for_deployment(name, log)
            only_it = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))  # type: ignore[attr-defined]
            async with get_client() as client:
                while not await client.read_flow_runs(deployment_filter=only_it):  # the scheduler's
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    await asyncio.sleep(0.5)
            run = await arun_deployment(name, timeout=180)
        assert run.state is not None
        assert run.state.is_completed(), run.state
    assert "Cannot schedule flows on an ephemeral server" not in log.read_text()
    assert (load(state)["status"] == "completed").all()
