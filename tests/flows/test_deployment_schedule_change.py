"""A deployment served again on another cron starts none of the runs its old schedule left queued.

Prefect's scheduler keeps planning a deployment's runs while nothing serves it; those past due stay
`Scheduled` (`Late`). Serving the deployment again replaced its schedule, but Prefect deletes only the
runs planned for the future, so the new process's runner started the late runs of the old schedule at
once: a trial redeployed with a corrected `--cron '0 2 * * *'` and three runs of about 200 queued by a
too frequent one ran straight away (flows/schedule_change.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import UsageError
from tests.support.deployments import plan_runs, serving, stopped, wait_for_deployment
from tests.support.tickets import TEMPLATE, write_tickets

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import FlowRun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EVERY_MINUTE = "* * * * *"
SERVED_CRON = "0 3 * * *"
"""The cron tests/support/deployments.serving serves on."""


async def test_redeploying_on_another_cron_drops_the_old_schedules_late_runs_and_keeps_started_ones(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Running, Scheduled

    from rowrelay.flows.scheduled import scheduled_batch

    state, out = tmp_path / "state", tmp_path / "out.parquet"
    source = write_tickets(tmp_path / "tickets.csv", 3)  # the served process writes the same file again
    parameters = {"source": str(source), "template": TEMPLATE, "id_column": "ticket_id",
                  "state": str(state), "output": str(out)}  # fmt: skip
    # The deployment as a stopped `rowrelay deploy --cron '* * * * *'` left it, its late runs queued:
    # half an hour of them, planned by the scheduler (auto-scheduled) with nothing serving.
    old = await scheduled_batch.ato_deployment(name="retimed", cron=EVERY_MINUTE, parameters=parameters)
    deployment_id = await old.aapply()
    now = datetime.now(UTC)
    late = await _planned_late(deployment_id)
    async with get_client() as client:
        started, *left = late
        await client.set_flow_run_state(started, Running(), force=True)  # a run already going: kept
        asked = await client.create_flow_run_from_deployment(  # asked for by hand, not the schedule's: kept
            deployment_id, state=Scheduled(scheduled_time=now + timedelta(days=1))
        )
    log = tmp_path / "serve-retimed.log"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        in_utc = {**prefect_env, "TZ": "UTC"}  # the machine's zone, which the new schedule is read in
        server = serving("retimed", in_utc, emu.url, tmp_path, rows=3, log=log)
        try:
            deadline = time.monotonic() + 120
            while (await _cron_of(deployment_id)) != SERVED_CRON:  # served: its schedule replaced
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.5)
            await wait_for_deployment("rowrelay-batch/retimed", log)
            async with get_client() as client:
                kept = {run.id: run for run in await _runs_of(client, deployment_id)}
                assert not set(left) & set(kept), "a late run of the old schedule was left to start"
                assert kept[started].state_name == "Running"
                assert kept[asked.id].state_name == "Scheduled"
                for run_id in left:
                    with pytest.raises(ObjectNotFound):
                        await client.read_flow_run(run_id)
            assert emu.emulator.listing() == []  # no batch run started: nothing sent
        finally:
            stopped(server)
    said = log.read_text()
    line = next((line for line in said.splitlines() if line.startswith("deployment 'retimed'")), None)
    assert line is not None, said[-3000:]
    assert line.startswith(
        f"deployment 'retimed' was scheduled '{EVERY_MINUTE}' in UTC, now '{SERVED_CRON}' in UTC: "
    ), line
    dropped = int(line.split(": ", 1)[1].split(" ", 1)[0])
    assert dropped >= len(left)  # with what the scheduler planned for the minutes ahead
    assert line.endswith(
        " runs of the old schedule not yet started dropped (Prefect would have started the late ones at "
        "once); runs already started are left to finish"
    ), line


async def test_redeploying_on_the_same_cron_drops_nothing(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    """The late runs of an unchanged schedule are the nights a restarted server catches up on (one at a
    time): they stay, and nothing is said."""
    from prefect.client.orchestration import get_client

    from rowrelay.flows.schedule_change import drop_runs_of_a_changed_schedule
    from rowrelay.flows.scheduled import scheduled_batch

    same = await scheduled_batch.ato_deployment(name="kept", cron=SERVED_CRON, parameters={})
    deployment_id = await same.aapply()
    # Three nights missed. The server's scheduler may add the coming nights' runs at any moment (ci113
    # read none here, then three at the end), so what is checked is that none of these is dropped.
    late = set(await _planned_late(deployment_id, over=timedelta(days=3), at_least=3))
    drop = drop_runs_of_a_changed_schedule
    # Its fields, in UTC however named (a deployment served before `deploy` named a zone has none: UTC)
    for zone in ("UTC", "Etc/UTC"):
        assert await asyncio.to_thread(drop, "rowrelay-batch", "kept", " 0 3  * * * ", timezone=zone) is None
    assert (
        await asyncio.to_thread(drop, "rowrelay-batch", "never-served", SERVED_CRON, timezone="UTC") is None
    )
    async with get_client() as client:
        assert late <= {run.id for run in await _runs_of(client, deployment_id)}
    assert await _cron_of(deployment_id) == SERVED_CRON


async def test_the_old_schedule_is_replaced_never_left_without_one_and_its_late_runs_counted(
    prefect_api: str, tmp_path: Path
) -> None:
    """Dropped before `serve_deployment` ran, the old schedule left the deployment on none: had serving
    then failed (or a process still served it), nothing was scheduled at all. The new cron is added first;
    the late runs the old one planned are dropped and counted, those asked for by hand kept."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Scheduled

    from rowrelay.flows.schedule_change import drop_runs_of_a_changed_schedule
    from rowrelay.flows.scheduled import scheduled_batch

    parameters = {"source": str(tmp_path / "in.csv"), "template": "{a}"}  # never run: nothing serves it
    old = await scheduled_batch.ato_deployment(name="replaced", cron=EVERY_MINUTE, parameters=parameters)
    deployment_id = await old.aapply()
    late = await _planned_late(deployment_id)
    async with get_client() as client:
        asked = await client.create_flow_run_from_deployment(
            deployment_id, state=Scheduled(scheduled_time=datetime.now(UTC) - timedelta(minutes=5))
        )
    drop = drop_runs_of_a_changed_schedule
    line = await asyncio.to_thread(drop, "rowrelay-batch", "replaced", "0 2 * * *", timezone="UTC")
    assert await _cron_of(deployment_id) == "0 2 * * *"  # on the new schedule, before anything serves it
    async with get_client() as client:
        assert (await client.read_flow_run(asked.id)).state_name in ("Scheduled", "Late")  # asked for: kept
        for run_id in late:
            with pytest.raises(ObjectNotFound):
                await client.read_flow_run(run_id)
    assert line is not None
    said, _, rest = line.partition(" runs of the old schedule not yet started dropped")
    assert said.startswith(
        f"deployment 'replaced' was scheduled '{EVERY_MINUTE}' in UTC, now '0 2 * * *' in UTC: "
    ), line
    assert int(said.rsplit(" ", 1)[1]) >= len(late), line  # with any the scheduler planned ahead
    assert rest.startswith(" (Prefect would have started the late ones at once)"), line
    # Done again (the serve failed, say): nothing left to drop, the schedule stays.
    assert await asyncio.to_thread(drop, "rowrelay-batch", "replaced", "0 2 * * *", timezone="UTC") is None
    assert await _cron_of(deployment_id) == "0 2 * * *"


async def test_the_same_cron_in_another_time_zone_is_another_schedule(
    prefect_api: str, tmp_path: Path
) -> None:
    """A deployment served before `deploy` named a zone was read in UTC (Prefect's default): its late
    nights at 02:00 UTC are not those of '0 2 * * *' in New York, so they go, counted, as any other old
    schedule's do, and the deployment is on the cron read in the zone asked for."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from rowrelay.flows.schedule_change import drop_runs_of_a_changed_schedule
    from rowrelay.flows.scheduled import scheduled_batch

    parameters = {"source": str(tmp_path / "in.csv"), "template": "{a}"}  # never run: nothing serves it
    old = await scheduled_batch.ato_deployment(name="rezoned", cron="0 2 * * *", parameters=parameters)
    deployment_id = await old.aapply()
    late = await _planned_late(deployment_id, over=timedelta(days=10), at_least=9)
    drop = drop_runs_of_a_changed_schedule
    line = await asyncio.to_thread(
        drop, "rowrelay-batch", "rezoned", "0 2 * * *", timezone="America/New_York"
    )
    async with get_client() as client:
        schedules = (await client.read_deployment(deployment_id)).schedules
        assert [(s.schedule.cron, s.schedule.timezone) for s in schedules] == [  # type: ignore[union-attr]
            ("0 2 * * *", "America/New_York")
        ]
        for run_id in late:
            with pytest.raises(ObjectNotFound):
                await client.read_flow_run(run_id)
    assert line is not None
    said = line.partition(" runs of the old schedule not yet started dropped")[0]
    assert said.startswith(
        "deployment 'rezoned' was scheduled '0 2 * * *' in UTC, now '0 2 * * *' in America/New_York: "
    ), line
    assert int(said.rsplit(" ", 1)[1]) >= len(late), line
    # Done again: the same schedule now, nothing to drop.
    assert (
        await asyncio.to_thread(drop, "rowrelay-batch", "rezoned", "0 2 * * *", timezone="America/New_York")
        is None
    )


def test_a_prefect_api_that_does_not_answer_is_one_line_saying_nothing_was_changed() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from rowrelay.flows.schedule_change import drop_runs_of_a_changed_schedule

    nowhere = "http://127.0.0.1:9/api"  # the discard port: nothing listens
    with temporary_settings(updates={PREFECT_API_URL: nowhere}), pytest.raises(UsageError) as refused:
        drop_runs_of_a_changed_schedule("rowrelay-batch", "anywhere", "0 2 * * *", timezone="UTC")
    said = str(refused.value)
    assert said.startswith(f"deployment 'anywhere': the Prefect API at {nowhere} failed while "), said
    assert said.endswith("; nothing was changed: run the command again once it answers"), said
    assert "\n" not in said


async def _planned_late(
    deployment_id: UUID, *, over: timedelta = timedelta(minutes=30), at_least: int = 25
) -> list[UUID]:
    """The runs the deployment's schedule plans over the time `over` just past, with nothing serving it
    (half an hour of them by default): late, as a stopped `rowrelay deploy` leaves them."""
    from prefect.client.orchestration import get_client

    now = datetime.now(UTC)
    await plan_runs(deployment_id, now - over, now - timedelta(minutes=1), min_runs=at_least, max_runs=100)
    async with get_client() as client:
        late = [run.id for run in await _runs_of(client, deployment_id) if run.auto_scheduled]
    assert len(late) >= at_least, late
    return late


async def _runs_of(client: PrefectClient, deployment_id: UUID) -> list[FlowRun]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    only_it = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    return list(await client.read_flow_runs(deployment_filter=only_it))


async def _cron_of(deployment_id: UUID) -> str | None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        schedules = (await client.read_deployment(deployment_id)).schedules
    return " ".join(getattr(s.schedule, "cron", "") for s in schedules) or None
