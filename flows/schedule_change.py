"""A deployment served again on another cron: the runs its old schedule planned, not yet started, are
dropped before the new schedule is served.

Prefect's scheduler plans a deployment's runs while nothing serves it (`pause_on_shutdown=False` keeps
the schedule active across a restart), and those past due stay `Scheduled` (shown `Late`). Serving the
deployment again replaces its schedule, but Prefect 3.8.8 then deletes only the runs planned for the
future (`models.deployments.create_deployment` calls `_delete_scheduled_runs(future_only=True)`): the
late runs of the old schedule stayed, and the new process's runner started them at once, one after
another, each a batch run sending rows. A user who stopped a deployment firing every few seconds and
served it again with '0 2 * * *' had about 200 such runs queued, and saw three run straight away.

Deleting the old schedule through Prefect's API drops them on the server, in one statement: the
deployment's auto-scheduled runs still `Scheduled` that never ran (`run_count == 0`). A run already
started, one waiting for a retry and one asked for by hand (`run_deployment`, the UI's "Quick run") stay.
The same cron served again keeps its late runs: those are the runs a restarted server catches up on, one
at a time (README, Scheduled jobs).

The new schedule is added before the old one is deleted: should serving then fail, or the command stop,
the deployment is on the schedule asked for, never on none (a process still serving it, `served_twice`,
would have stopped running it). The runs dropped are counted by id, those waiting before and gone after:
the scheduler plans runs meanwhile, and a difference of two counts could count those. A Prefect API that
fails or cannot be reached is a `UsageError` in one line, saying what was changed.

A schedule is its cron and the time zone it is read in: the same cron in another zone runs at other
hours, so it is another schedule, and its late runs go as any other's (a deployment served before
`deploy` named a zone was read in UTC, Prefect's default: served again on a machine in New York, its
nights at 02:00 UTC are not the new schedule's). A schedule naming no zone is UTC's, as Prefect reads it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from rowrelay.flows.time_zones import same_zone
from rowrelay.tasks.errors import UsageError

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import DeploymentSchedule


def drop_runs_of_a_changed_schedule(flow_name: str, name: str, cron: str, *, timezone: str) -> str | None:
    """Before deployment `name` of `flow_name` is served on `cron` read in `timezone`: if Prefect holds
    it on another schedule (another cron, or the same in another zone), give it the new one and delete
    the old, and with it the runs it planned that have not started. Returns the line saying so, or None
    (a new deployment, or the same schedule)."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound, PrefectException

    done, new = "nothing was changed", f"{cron!r} in {timezone}"
    try:
        with get_client(sync_client=True) as client:
            try:
                deployment = client.read_deployment_by_name(f"{flow_name}/{name}")
            except ObjectNotFound:
                return None
            old = [schedule for schedule in deployment.schedules if not _is(schedule, cron, timezone)]
            if not old:
                return None
            waiting = _waiting_runs(client, deployment.id)
            if len(old) == len(deployment.schedules):  # `cron` is not among them yet
                _add_cron(client, deployment.id, cron, timezone)
                done = f"{new} was added beside the old schedule"
            for schedule in old:
                with contextlib.suppress(ObjectNotFound):  # deleted meanwhile (the UI, another deploy)
                    client.delete_deployment_schedule(deployment.id, schedule.id)
            dropped = len(waiting) - _still_there(client, waiting)
    except (httpx.HTTPError, PrefectException) as exc:
        from prefect.settings import PREFECT_API_URL

        raise UsageError(
            f"deployment {name!r}: the Prefect API at {PREFECT_API_URL.value()} failed while its schedule "
            f"was changed to {new} ({_first_line(exc)}); {done}: run the command again once it answers"
        ) from None
    was = " and ".join(_said(schedule) for schedule in old)
    return (
        f"deployment {name!r} was scheduled {was}, now {new}: {dropped} run{'' if dropped == 1 else 's'} "
        "of the old schedule not yet started dropped (Prefect would have started the late ones at once); "
        "runs already started are left to finish"
    )


def _add_cron(client: SyncPrefectClient, deployment_id: UUID, cron: str, timezone: str) -> None:
    """`cron` in `timezone` as a schedule of the deployment, as serving it sets it (which then replaces
    it)."""
    from prefect.client.schemas.schedules import construct_schedule

    schedule = construct_schedule(cron=cron, timezone=timezone)
    client.create_deployment_schedules(deployment_id, [(schedule, True)])


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0]


def _fields(cron: str) -> str:
    """A cron as its fields: '0 2  * * *' is '0 2 * * *'."""
    return " ".join(cron.split())


def _cron_of(schedule: DeploymentSchedule) -> tuple[str, str | None] | None:
    """The schedule's cron, as its fields, and its zone (None: UTC); None for an interval or rrule
    schedule (set in Prefect's UI)."""
    from prefect.client.schemas.schedules import CronSchedule

    if not isinstance(schedule.schedule, CronSchedule):
        return None
    return _fields(schedule.schedule.cron), schedule.schedule.timezone


def _is(schedule: DeploymentSchedule, cron: str, timezone: str) -> bool:
    """Whether `schedule` is `cron` read in `timezone` (its fields, and a zone that reads them alike)."""
    if (its := _cron_of(schedule)) is None:
        return False
    its_cron, its_zone = its
    return its_cron == _fields(cron) and same_zone(its_zone, timezone)


def _said(schedule: DeploymentSchedule) -> str:
    """`'0 2 * * *' in UTC`: a schedule naming no zone is read in UTC."""
    if (its := _cron_of(schedule)) is None:
        return type(schedule.schedule).__name__
    cron, zone = its
    return f"{cron!r} in {zone or 'UTC'}"


_PAGE = 200
"""Runs read at once: the most Prefect's API hands back by default (PREFECT_API_DEFAULT_LIMIT)."""


def _waiting_runs(client: SyncPrefectClient, deployment_id: UUID) -> set[UUID]:
    """The ids of the deployment's runs that are `Scheduled` (`Late` among them): those deleting the old
    schedule may drop."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    ids: set[UUID] = set()
    offset = 0
    while True:
        page = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
            sort=FlowRunSort.ID_DESC,
            limit=_PAGE,
            offset=offset,
        )
        ids.update(run.id for run in page)
        offset += len(page)
        if len(page) < _PAGE:
            return ids


def _still_there(client: SyncPrefectClient, ids: set[UUID]) -> int:
    """How many of the runs `ids` Prefect still holds, in whatever state (one started meanwhile counts)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    if not ids:
        return 0
    return client.count_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=sorted(ids))))
