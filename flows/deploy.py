"""Scheduled batches: the batch flow served as a Prefect deployment on a cron schedule.

`flow.serve` is the lightest scheduled job (one long-lived process; each run executes in it):

    rowrelay deploy data/sample/tickets.csv --cron "0 2 * * *" --template "..." --id-column ticket_id

Every scheduled run uses the same state directory, so a run that was interrupted is resumed by the
next one, and completed rows are never sent again. For several jobs or isolated infrastructure, use
`prefect.yaml` with a process work pool instead (see the README).
"""

from __future__ import annotations

import warnings
from typing import Any

from rowrelay.flows.scheduled import scheduled_batch


def serve_deployment(*, name: str, cron: str, parameters: dict[str, Any], tags: list[str]) -> None:
    """Create (or update) the deployment and serve it until SIGINT/SIGTERM; its runs inherit `tags`
    (flows/run_labels.py)."""
    given = {key: value for key, value in parameters.items() if value is not None}
    # Prefect's SIGTERM handler calls the runner's async `astop` from synchronous code and exits without
    # awaiting it: every stop of the serving process (systemd, Kubernetes, `kill`) ended in a
    # RuntimeWarning about a coroutine never awaited. Nothing is left undone by it here: a run in progress
    # stops as any run does on SIGTERM, and the schedule is not to be paused.
    warnings.filterwarnings("ignore", "coroutine 'Runner.astop' was never awaited", RuntimeWarning)
    # pause_on_shutdown=False: otherwise stopping the serving process pauses the schedule, and a
    # restarted one would not run it again until someone resumes it. limit=1: every run works on the one
    # state, so a run due while another still goes (or the runs a restarted server catches up on) waits
    # its turn; it started at once and failed on the batch's lease, a `Failed` run the README's alert
    # reported as a bad night. The limit holds within this process only: a run of the same deployment
    # served by another process that finds the batch held ends `Cancelled` (flows/scheduled.py).
    scheduled_batch.serve(name=name, cron=cron, parameters=given, tags=tags, pause_on_shutdown=False, limit=1)
