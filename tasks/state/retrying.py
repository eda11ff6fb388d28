"""Making a batch's rows eligible again: what `rowrelay retry` and `rowrelay.retry(...)` from Python do.

>>> retry("data/state/tickets-4bb51bd41f", "failed,cancelled")
12
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.records import (
    CUT_AT_CEILING,
    IN_FLIGHT,
    NOT_COMPLETED,
    RETRY_BY_DEFAULT,
    ROW_STATUSES,
    RowStatus,
)
from rowrelay.tasks.setting_problems import option_of, python_words
from rowrelay.tasks.shell_words import shell_arg
from rowrelay.tasks.state.batch import is_state_directory, no_batch_problem
from rowrelay.tasks.state.batch_policies import next_run_policies_at
from rowrelay.tasks.state.table import StateTable

RETRIED_NOTE = "made eligible again by rowrelay retry"


@python_words  # a status it refuses is named `status`, not `rowrelay retry`'s `--status`
def retry(state: str | Path, status: str | Iterable[str] = RETRY_BY_DEFAULT) -> int:
    """Put the batch's rows with these statuses (`failed,incomplete` or a list of them; by default
    failed, incomplete, expired and orphaned) back to pending, for the next run to send; completed rows
    never go back. Returns how many rows it made eligible.

    Raises `UsageError` for a folder that holds no batch or a status that cannot be retried,
    `LeaseHeldError` while a run holds the batch, and `StateError` for a damaged table."""
    return retried(state, status)[0]


def retried(state: str | Path, status: str | Iterable[str] = RETRY_BY_DEFAULT) -> tuple[int, int, int]:
    """`retry`, and the creates those rows sent whose answers were lost (their `orphans`): jobs that may
    have run and been billed, which `rowrelay retry` says before the next run sends the rows again; and
    how many of the rows ended incomplete at their output token ceiling (`records.CUT_AT_CEILING`), which
    sent again at the same ceiling end so again, paid for again."""
    directory = Path(state)
    statuses = retried_statuses(status, directory)
    if not is_state_directory(directory):
        raise UsageError(no_batch_problem(directory))
    policies = next_run_policies_at(directory)
    # Its open makes a killed run's rows being sent orphans, noted with what the batch's next run does
    # with them: by the batch's own policies (it noted "it will be sent again" of a batch run under hold).
    with StateTable.open(
        directory, orphan_policy=policies.orphan_policy, max_attempts=policies.max_attempts
    ) as table:
        lost = table.columns(statuses, ["orphans"]).column("orphans")
        said = table.columns(statuses, ["error_message"]).column("error_message").to_pylist()
        cut = sum(1 for message in said if message in CUT_AT_CEILING)
        keys = table.keys_with_status(statuses)
        for key in keys:
            table.transition(key, "pending", note=RETRIED_NOTE)
    return len(keys), sum(n or 0 for n in lost.to_pylist()), cut


def retried_statuses(status: str | Iterable[str], directory: Path) -> list[RowStatus]:
    """The statuses `status` names (`failed,incomplete` or a list), in the table's order; a `UsageError`
    for one that cannot be retried, or for none named (`directory`: the batch, for the way out it names)."""
    wanted = [s.strip() for s in status.split(",")] if isinstance(status, str) else [str(s) for s in status]
    wanted = [s for s in wanted if s]
    if not wanted:  # `--status ''` said "no row is : nothing to make eligible again" and exited 0
        raise UsageError(
            f"{option_of('status')} names no status: give one or more of {', '.join(NOT_COMPLETED)}"
        )
    refused = [s for s in wanted if s not in NOT_COMPLETED]
    if refused:
        why = ""
        if IN_FLIGHT.intersection(refused):  # holding, or maybe holding, a response still running
            why = (
                ": those rows hold a response the server may still be working on; run the batch again to "
                f"collect it, or `rowrelay cancel {shell_arg(directory)}` to stop it, then retry the "
                "cancelled rows"
            )
        elif "pending" in refused:
            why = ": pending rows are eligible already; run the batch again to send them"
        raise UsageError(
            f"{option_of('status')} takes {', '.join(NOT_COMPLETED)}; not {', '.join(refused)}{why}"
        )
    return [s for s in ROW_STATUSES if s in wanted]
