"""Whether this flow run is a deployment's, and what a line of advice says there.

A deployment's runs take the parameters it was served with and no others: advice meant for a command
run by hand ("the same command without --limit", "run with --resend-edited") sent the user of a
scheduled batch to an option its runs cannot be given. Prefect's flow run records the deployment that
started it; a run of `rowrelay run`, `run_batch` from Python or a subflow has none.
"""

from __future__ import annotations

from rowrelay.tasks.records import rows
from rowrelay.tasks.setting_problems import given_as, option_of, same_run


def a_deployments_run() -> bool:
    """Whether the flow run under way (if any) was started by a deployment (`rowrelay deploy`, a work
    pool's worker): its record names one."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = None if context is None else context.flow_run
    return run is not None and run.deployment_id is not None


def held_back_said(limit: int, held: int) -> str:
    """The line a `--limit` run logs of the rows it left to send: by hand, the same command without the
    limit sends them; in a deployment, its next scheduled runs do, `limit` each."""
    limited = given_as("limit", str(limit))  # as given: `--limit 1000`, from Python `limit=1000`
    if a_deployments_run():
        return (
            f"{limited}: {rows(held)} to send left for this deployment's next scheduled runs "
            f"(each sends up to {limit:,})"
        )
    return f"{limited}: {rows(held)} to send left for a later run ({same_run()} without {option_of('limit')})"
