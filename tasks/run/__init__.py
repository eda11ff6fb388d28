"""One batch run: the plan (which rows to send, in what order), the row driver (submit, wait, record),
the per-shard runner, the session that builds them inside the event loop, the poll schedule, and
continuation-token interop with Agent Framework.

    session = open_session(settings, table, prompts)
    report = await session.runner.run(keys)
"""

from typing import TYPE_CHECKING

from rowrelay.tasks.lazy import exports

if TYPE_CHECKING:
    from rowrelay.tasks.run.cancel import cancel_in_flight
    from rowrelay.tasks.run.context import RowContext, RunCounters
    from rowrelay.tasks.run.driver import RowDriver
    from rowrelay.tasks.run.plan import BatchPlan, RowPolicy, plan_batch, send_order, wants_submit
    from rowrelay.tasks.run.progress import Progress, RunReport
    from rowrelay.tasks.run.runner import BatchRunner
    from rowrelay.tasks.run.session import Session, open_session, open_table
    from rowrelay.tasks.run.shards import Shard
    from rowrelay.tasks.run.stops import Cancelled

__getattr__, __dir__ = exports(
    __name__,
    {
        "BatchPlan": "plan",
        "BatchRunner": "runner",
        "Cancelled": "cancel",
        "Progress": "progress",
        "RowContext": "context",
        "RowDriver": "driver",
        "RowPolicy": "plan",
        "RunCounters": "context",
        "RunReport": "progress",
        "Session": "session",
        "Shard": "shards",
        "cancel_in_flight": "cancel",
        "open_session": "session",
        "open_table": "session",
        "plan_batch": "plan",
        "send_order": "plan",
        "wants_submit": "plan",
    },
)

__all__ = [
    "BatchPlan",
    "BatchRunner",
    "Cancelled",
    "Progress",
    "RowContext",
    "RowDriver",
    "RowPolicy",
    "RunCounters",
    "RunReport",
    "Session",
    "Shard",
    "cancel_in_flight",
    "open_session",
    "open_table",
    "plan_batch",
    "send_order",
    "wants_submit",
]
