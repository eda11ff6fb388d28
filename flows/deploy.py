"""Scheduled batches: the batch flow served as a Prefect deployment on a cron schedule.

`flow.serve` is the lightest scheduled job (one long-lived process; each run executes in it):

    rowrelay deploy data/sample/tickets.csv --cron "0 2 * * *" --template "..." --id-column ticket_id

The cron is read in a named time zone (`--timezone`, else this machine's: flows/time_zones.py), never in
Prefect's default of UTC unsaid.

Every scheduled run uses the same state directory, so a run that was interrupted is resumed by the
next one, and completed rows are never sent again. For several jobs or isolated infrastructure, use
`prefect.yaml` with a process work pool instead (see the README).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from rowrelay.flows.scheduled import scheduled_batch


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """When Prefect's scheduler starts the first run of `cron` read in `timezone` after `after`, in that
    zone: its server's own schedule computes it, as it computes the runs it plans."""
    from prefect.server.schemas.schedules import CronSchedule

    dates = asyncio.run(CronSchedule(cron=cron, timezone=timezone).get_dates(n=1, start=after))
    return dates[0].astimezone(ZoneInfo(timezone))


def next_run_said(cron: str, timezone: str, after: datetime) -> str:
    """`next run Sun 2026-12-06 02:00 EST (07:00 UTC)`: the time in the schedule's zone, and in UTC
    (what Prefect's API shows) when the two differ."""
    when = next_run(cron, timezone, after)
    said = f"next run {when:%a %Y-%m-%d %H:%M} {when.tzname()}"
    in_utc = when.astimezone(UTC)
    if when.utcoffset() == in_utc.utcoffset():
        return said
    day = "" if in_utc.date() == when.date() else f"{in_utc:%a} "  # 01:30 IST is 20:00 UTC the day before
    return f"{said} ({day}{in_utc:%H:%M} UTC)"


def serve_deployment(
    *,
    name: str,
    cron: str,
    timezone: str,
    parameters: dict[str, Any],
    tags: list[str],
    say: Callable[[str], None],
    prefects_hint: bool = True,
) -> None:
    """Create (or update) the deployment on `cron` read in `timezone` and serve it until SIGINT/SIGTERM;
    its runs inherit `tags` (flows/run_labels.py). `say`: where this process's own lines go (its stop's,
    flows/deploy_stop.py). `prefects_hint`: Prefect's own message of how to start a run (`prefect
    deployment run ...`), left out where the caller says it otherwise."""
    from prefect.runner import Runner
    from prefect.schedules import Cron

    from rowrelay.flows.deploy_stop import served_until_stopped

    given = {key: value for key, value in parameters.items() if value is not None}
    # Prefect's SIGTERM handler calls the runner's async `astop` from synchronous code and exits without
    # awaiting it: every stop of the serving process (systemd, Kubernetes, `kill`) ended in a
    # RuntimeWarning about a coroutine never awaited. Nothing is left undone by it here: a run in progress
    # stops as any run does on SIGTERM, and the schedule is not to be paused.
    warnings.filterwarnings("ignore", "coroutine 'Runner.astop' was never awaited", RuntimeWarning)
    # What `scheduled_batch.serve(...)` does, with the runner in hand: its SIGINT is rowrelay's
    # (flows/deploy_stop.py). pause_on_shutdown=False: otherwise stopping the serving process pauses the
    # schedule, and a restarted one would not run it again until someone resumes it. limit=1: every run
    # works on the one state, so a run due while another still goes (or the runs a restarted server
    # catches up on) waits its turn; it started at once and failed on the batch's lease, a `Failed` run the
    # README's alert reported as a bad night. The limit holds within this process only: a run of the same
    # deployment served by another process that finds the batch held ends `Cancelled` (flows/scheduled.py).
    runner = Runner(name=name, pause_on_shutdown=False, limit=1)
    deployment = runner.add_flow(
        scheduled_batch, name=name, schedule=Cron(cron, timezone=timezone), parameters=given, tags=tags
    )
    assert isinstance(deployment, UUID)  # called outside an event loop, Prefect's sync side answers
    if prefects_hint:
        print(_prefects_hint(name, deployment), flush=True)
    served_until_stopped(runner, say)


def _prefects_hint(name: str, deployment: UUID) -> str:
    """What `Flow.serve` prints as it starts: how to start a run, and the deployment's page in the UI
    when Prefect's settings give the UI's address."""
    from prefect.settings import PREFECT_UI_URL

    flow = scheduled_batch.name
    said = (
        f"Your flow {flow!r} is being served and polling for scheduled runs!\n\n"
        f"To trigger a run for this flow, use the following command:\n\n"
        f"        $ prefect deployment run '{flow}/{name}'\n"
    )
    if ui := PREFECT_UI_URL.value():
        said += f"\nYou can also run your flow via the Prefect UI: {ui}/deployments/deployment/{deployment}\n"
    return said
