"""A batch's money policies, decided in one place: the creates a row may take (`--max-attempts`), what
becomes of a row whose create lost its answer (`ROWRELAY_ORPHAN_POLICY`: resubmit or hold), and the prices
its rows are costed and capped at (`--prices`).

Every run records them in `run.json` (`RunRecord.max_attempts`, `.orphan_policy`, `.prices`). A run of the
batch takes each as it was given to that run (a command line option, an environment variable, a `run_batch`
keyword, a deployment's parameter); else as the batch recorded it; else the default (`batch_policies`).
A run took both from its own settings alone: a batch run under `hold`, killed while its rows were on the
wire and resumed from a shell without the variable (a notebook, a cron job's other shell), sent those rows
again and paid for them again, which its user had chosen not to do, though `status` had said the next run
holds them; and a batch run with `--max-attempts 5` and resumed without it gave up its rows at their third
attempt. Prices likewise: a batch capped under `--prices` and resumed without it sent its last rows at
the shipped prices, its cost cap counting them in another currency of prices than the rows before.

`status`, `cancel` and `rowrelay retry` speak for the batch's next run, to which nothing is given yet
(`next_run_policies`): the recorded values, so they and a run from a plain shell agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rowrelay.tasks.errors import DamagedFileError, UsageError
from rowrelay.tasks.state.run_record import max_attempts_of, orphan_policy_of, read_run_record

if TYPE_CHECKING:
    from rowrelay.tasks.settings import Settings
    from rowrelay.tasks.state.run_record import RunRecord

__all__ = ["BY_VALUE", "KEPT", "batch_policies", "next_run_policies", "next_run_policies_at", "overridden"]

KEPT = ("max_attempts", "orphan_policy", "prices")
"""The settings a batch keeps across its runs: what decides whether its rows are paid for again, and at
what prices they are costed and capped."""
BY_VALUE = ("prices",)
"""The `KEPT` settings a record holds as what they stood for, not as the setting: `prices`, a file's path,
is kept as the price entries the run priced with (the file may move or change; null: the shipped prices,
which a new release's then replace). The caller, which can read prices, gives the setting standing for
the recorded value (`stand_ins`: a file holding those entries) and a given setting's value in the record's
terms (`as_recorded`); without them the setting is not kept."""


def batch_policies(
    settings: Settings, record: RunRecord | None, stand_ins: Mapping[str, Any] | None = None
) -> Settings:
    """`settings`, a run's, with the batch's `KEPT` policies: each as `settings` holds it where the run
    was given it (`model_fields_set`: its keywords and environment variables, never a default); else as
    `record` (the batch's `run.json`; None: none, or a damaged one) holds it (`BY_VALUE` ones: as its
    `stand_ins` stand for it); else the default."""
    given, stand_ins = settings.model_fields_set, stand_ins or {}
    update = {
        name: stand_ins[name] if name in BY_VALUE else value
        for name, value in _recorded(record).items()
        if name not in given and value is not None and (name not in BY_VALUE or name in stand_ins)
    }
    return settings.model_copy(update=update) if update else settings


def overridden(
    settings: Settings, record: RunRecord | None, as_recorded: Mapping[str, Any] | None = None
) -> dict[str, tuple[Any, Any]]:
    """The `KEPT` policies given to a run (`settings`, its own) that differ from the batch's recorded
    ones, each as `(given, recorded)` (`BY_VALUE` ones: given `as_recorded`, in the record's terms): what
    the run says, once, it takes over what."""
    as_recorded = as_recorded or {}
    differ = {}
    for name, value in _recorded(record).items():
        if name not in settings.model_fields_set or (name in BY_VALUE and name not in as_recorded):
            continue
        given = as_recorded[name] if name in BY_VALUE else getattr(settings, name)
        if given != value:
            differ[name] = (getattr(settings, name), value)
    return differ


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
    """The `KEPT` values `record` holds (one of a release before a field holds None for it, and is left
    out: read as it was then, the run's own). A `BY_VALUE` one's None is a value (`prices`: the shipped)."""
    if record is None:
        return {}
    return {
        name: value
        for name in KEPT
        if (value := getattr(record, name)) is not None
        or (name in BY_VALUE and name not in record.unrecorded)
    }
