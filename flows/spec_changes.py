"""A run that makes its prompts otherwise than the batch's last run did: refused where rows were sent.

Another `--instructions`, `--template` or `--prompt-column` changes the input of every row, as an input
file edited in every row would: each row the batch sent would be sent, and paid for, again under the new
prompt. That is refused whatever `--resend-edited` says: the option is for rows whose own text was edited
(a typo fixed in a few prompts); with it, a changed `--instructions` (or a mistyped template) once marked
all 10,000 rows edited and sent every one again with only a warning. A batch whose rows are all still
unsent takes the new prompts (`edited_inputs.take_edits`); a new `--state` sends every row the new way.

A batch folder with no `run.json` (an older batch's, or its record lost), or one whose record does not
name its template, prompt column and instructions, has no spec on record to compare with: every row
another template changed read as edited, and the option sent and paid for each again. There, with the
option, a run in which every row the batch sent changed input (two or more: what another template or
instructions does, and a typo fixed in every row almost never is) is refused, saying what the record
lacks (`_unknown_spec_problem`: it once said "no run.json" of a run.json naming no spec); a few rows
edited are sent again as ever. One sent row changed is let through: nothing tells the two apart, and it
is one row.

    check_same_spec(request, prepared, state_dir)   # run and the flow, before run.json is written again
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rowrelay.flows.request import BatchRequest
from rowrelay.flows.same_server import state_rows
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.records import rows
from rowrelay.tasks.setting_problems import given_as, option_of, switch_of
from rowrelay.tasks.state.files import BATCH_FILE, RUN_FILE

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["check_same_spec", "spec_changes"]

_SPEC_OPTIONS = ("template", "prompt_column", "instructions")
"""The settings that make a row's prompt, named as their caller gives them (`option_of`)."""


def check_same_spec(
    request: BatchRequest, prepared: PreparedInput, state_dir: Path, table: pa.Table | None = None
) -> None:
    """Refuse a run whose prompts are made otherwise than the batch's last run made them when a row the
    batch sent would be sent again for it (`UsageError`), with or without `--resend-edited`. `table`: the
    state's rows, when the caller read them; else they are read only if the prompts' making changed (the
    run's record says so: a run that changes nothing reads no more than before)."""
    said = spec_changes(request, state_dir)
    unnamed = _unrecorded_spec(state_dir) if said is None and request.resend_edited else None
    if (said is None and unnamed is None) or not (state_dir / BATCH_FILE).exists():
        return
    from rowrelay.tasks.run import edited_inputs as edits  # to resume
    from rowrelay.tasks.state.results import changed_inputs

    table = state_rows(state_dir) if table is None else table
    changed = changed_inputs(table.select(["row_key", "input_hash"]), prepared.planned())
    if not changed or not edits.edited_rows(table.select(list(edits.EDIT_FACTS)), prepared.planned()).sent:
        return
    if unnamed is not None:  # no spec to compare: refused only when every row the batch sent changed
        problem = _unknown_spec_problem(table, prepared, state_dir, unnamed)
        if problem is not None:
            raise UsageError(problem)
        return
    raise UsageError(
        f"{state_dir}: this run's {said}, so {rows(len(changed))} would be sent otherwise than the batch "
        f"planned them (e.g. {', '.join(changed[:5])}): run it as the batch ran, or give it a state of its "
        f"own ({option_of('state')}) to send every row this way"
        + (
            f"; {switch_of('resend_edited')} sends again only rows whose own input was edited, not every "
            "row a changed template or instructions changes"
            if request.resend_edited
            else ""
        )
    )


def _unrecorded_spec(state_dir: Path) -> list[str] | None:
    """The options of the prompts' making the batch's record does not name (`--instructions`, ...), all
    of them with no `run.json`; None when it names every one (a spec on record to compare with)."""
    from rowrelay.tasks.state import read_run_record

    record = read_run_record(state_dir)
    unnamed = [option_of(name) for name in _SPEC_OPTIONS if record is None or name not in record.spec]
    return unnamed or None


def _unrecorded_why(state_dir: Path, unnamed: list[str]) -> str:
    """Why the batch has no spec on record for `unnamed`, in the refusal's words: which is missing."""
    if not (state_dir / RUN_FILE).exists():
        return f"it holds no {RUN_FILE} (an older batch's folder, or its record lost)"
    return f"its {RUN_FILE} records no {_listed(unnamed, 'or')} (an older release's record, or one edited)"


def _listed(options: list[str], joined_by: str) -> str:
    return f" {joined_by} ".join([", ".join(options[:-1]), options[-1]] if len(options) > 1 else options)


def _unknown_spec_problem(
    table: pa.Table, prepared: PreparedInput, state_dir: Path, unnamed: list[str]
) -> str | None:
    """The refusal of a resend that would send every row the batch sent (two or more) again, when no
    spec on record tells an edited input from another template or instructions; None when some rows the
    batch sent kept their input."""
    import pyarrow.compute as pc

    from rowrelay.tasks.run import edited_inputs as edits  # to resume

    facts = table.select(list(edits.EDIT_FACTS))
    in_input: Any = pc.is_in(facts.column("row_key"), value_set=prepared.keys)
    was_sent: Any = pc.invert(pc.fill_null(edits.never_sent(facts), False))
    sent = facts.filter(pc.and_(in_input, was_sent)).num_rows
    edited = edits.edited_rows(facts, prepared.planned()).sent
    if len(edited) < max(2, sent):
        return None
    return (
        f"{state_dir}: the batch has no spec on record: {_unrecorded_why(state_dir, unnamed)}, so this "
        f"run's {_listed(unnamed, 'and')} cannot be compared with the ones it ran with, and every one of "
        f"the {rows(len(edited))} it sent changed input (e.g. "
        f"{', '.join(edited[:5])}), as another template or instructions would change them: "
        f"{switch_of('resend_edited')} would send, and pay for, each again. Run it with the batch's own "
        f"{_listed([option_of(name) for name in _SPEC_OPTIONS], 'and')} and only the edited rows changed; "
        f"if every row's text was edited on purpose, give it a state of its own ({option_of('state')}), "
        "which sends every row"
    )


def spec_changes(request: BatchRequest, state_dir: Path) -> str | None:
    """What of the prompts' making this run gives otherwise than the batch's last run (its template,
    prompt column or instructions), for a refusal of changed rows to say: changed rows read as an edited
    input file when it was `--instructions` that changed."""
    from rowrelay.tasks.state import read_run_record

    record = read_run_record(state_dir)
    if record is None:
        return None
    now = vars(request.spec)
    changed = []
    for name in _SPEC_OPTIONS:
        if name in record.spec and record.spec[name] != now[name]:
            was = record.spec[name]
            given = given_as(name, repr(now[name])) if now[name] is not None else f"no {option_of(name)}"
            changed.append(f"{given} (it ran {'with ' + repr(was) if was is not None else 'without one'})")
    return "; ".join(changed) or None
