"""A batch's money policies, decided in one place: the creates a row may take (`--max-attempts`) and what
becomes of a row whose create lost its answer (`ROWRELAY_ORPHAN_POLICY`: resubmit or hold).

Every run records both in `run.json` (`RunRecord.max_attempts`, `.orphan_policy`). A run of the batch
takes each as it was given to that run (a command line option, an environment variable, a `run_batch`
keyword, a deployment's parameter); else as the batch recorded it; else the default (`batch_policies`).
A run took both from its own settings alone: a batch run under `hold`, killed while its rows were on the
wire and resumed from a shell without the variable (a notebook, a cron job's other shell), sent those rows
again and paid for them again, which its user had chosen not to do, though `status` had said the next run
holds them; and a batch run with `--max-attempts 5` and resumed without it gave up its rows at their third
attempt.

`status`, `cancel` and `rowrelay retry` speak for the batch's next run, to which nothing is given yet
(`next_run_policies`): the recorded values, so they and a run from a plain shell agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rowrelay.tasks.errors import DamagedFileError, UsageError
from rowrelay.tasks.state.run_record import max_attempts_of, orphan_policy_of, read_run_record

if TYPE_CHECKING:
    from rowrelay.tasks.settings import Settings
    from rowrelay.tasks.state.run_record import RunRecord

__all__ = ["KEPT", "batch_policies", "next_run_policies", "next_run_policies_at", "overridden"]

KEPT = ("max_attempts", "orphan_policy")
"""The settings a batch keeps across its runs: what decides whether its rows are paid for again."""


def batch_policies(settings: Settings, record: RunRecord | None) -> Settings:
    """`settings`, a run's, with the batch's `KEPT` policies: each as `settings` holds it where the run
    was given it (`model_fields_set`: its keywords and environment variables, never a default); else as
    `record` (the batch's `run.json`; None: none, or a damaged one) holds it; else the default."""
    given = settings.model_fields_set
    update = {name: value for name, value in _recorded(record).items() if name not in given}
    return settings.model_copy(update=update) if update else settings


def overridden(settings: Settings, record: RunRecord | None) -> dict[str, tuple[Any, Any]]:
    """The `KEPT` policies given to a run (`settings`, its own) that differ from the batch's recorded
    ones, each as `(given, recorded)`: what the run says, once, it takes over what."""
    return {
        name: (getattr(settings, name), value)
        for name, value in _recorded(record).items()
        if name in settings.model_fields_set and getattr(settings, name) != value
    }


def next_run_policies(here: Settings, record: RunRecord | None) -> Settings:
    """`here` (settings read in this shell) with the policies the batch's next run takes when given none:
    what `cancel` and `rowrelay retry` note on the rows their open makes orphans, as `status` says it
    (`flows.status_holder`). A record of a release before a field: the default creates per row
    (`max_attempts_of`), and this shell's orphan policy."""
    policy = orphan_policy_of(record) or here.orphan_policy
    return here.model_copy(update={"max_attempts": max_attempts_of(record), "orphan_policy": policy})


def next_run_policies_at(directory: Path) -> Settings:
    """`next_run_policies` of the batch at `directory` with this shell's settings: what `status` and
    `rowrelay retry` say its next run does with rows left being sent. Theirs are words only: a damaged
    `run.json` reads as none (status names it), a setting here a run would refuse as the default. The
    settings' model is imported here alone: `status`, which imports this package, does without it."""
    from rowrelay.tasks.settings import Settings, load_settings

    try:
        record = read_run_record(directory)
    except DamagedFileError:
        record = None
    try:
        here = load_settings()
    except UsageError:
        here = Settings.model_construct()
    return next_run_policies(here, record)


def _recorded(record: RunRecord | None) -> dict[str, Any]:
    """The `KEPT` values `record` holds (one of a release before a field holds None for it)."""
    if record is None:
        return {}
    return {name: value for name in KEPT if (value := getattr(record, name)) is not None}
