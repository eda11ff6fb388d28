"""A run that makes its prompts otherwise than the batch's last run did: refused where rows were sent.

Another `--instructions`, `--template` or `--prompt-column` changes the input of every row, as an input
file edited in every row would: each row the batch sent would be sent, and paid for, again under the new
prompt. That is refused whatever `--resend-edited` says: the option is for rows whose own text was edited
(a typo fixed in a few prompts); with it, a changed `--instructions` (or a mistyped template) once marked
all 10,000 rows edited and sent every one again with only a warning. A batch whose rows are all still
unsent takes the new prompts (`edited_inputs.take_edits`); a new `--state` sends every row the new way.

    check_same_spec(request, prepared, state_dir)   # run and the flow, before run.json is written again
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rowrelay.flows.request import BatchRequest
from rowrelay.flows.same_server import state_rows
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.records import rows
from rowrelay.tasks.state.files import BATCH_FILE

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["check_same_spec", "spec_changes"]

_SPEC_OPTIONS = {
    "template": "--template",
    "prompt_column": "--prompt-column",
    "instructions": "--instructions",
}


def check_same_spec(
    request: BatchRequest, prepared: PreparedInput, state_dir: Path, table: pa.Table | None = None
) -> None:
    """Refuse a run whose prompts are made otherwise than the batch's last run made them when a row the
    batch sent would be sent again for it (`UsageError`), with or without `--resend-edited`. `table`: the
    state's rows, when the caller read them; else they are read only if the prompts' making changed (the
    run's record says so: a run that changes nothing reads no more than before)."""
    said = spec_changes(request, state_dir)
    if said is None or not (state_dir / BATCH_FILE).exists():
        return
    from rowrelay.tasks.run import edited_inputs as edits  # to resume
    from rowrelay.tasks.state.results import changed_inputs

    table = state_rows(state_dir) if table is None else table
    changed = changed_inputs(table.select(["row_key", "input_hash"]), prepared.planned())
    if not changed or not edits.edited_rows(table.select(list(edits.EDIT_FACTS)), prepared.planned()).sent:
        return
    raise UsageError(
        f"{state_dir}: this run's {said}, so {rows(len(changed))} would be sent otherwise than the batch "
        f"planned them (e.g. {', '.join(changed[:5])}): run it as the batch ran, or give it a state of its "
        "own (--state) to send every row this way"
        + (
            f"; {edits.RESEND_OPTION} sends again only rows whose own input was edited, not every row a "
            "changed template or instructions changes"
            if request.resend_edited
            else ""
        )
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
    for name, option in _SPEC_OPTIONS.items():
        if name in record.spec and record.spec[name] != now[name]:
            was = record.spec[name]
            given = f"{option} {now[name]!r}" if now[name] is not None else f"no {option}"
            changed.append(f"{given} (it ran {'with ' + repr(was) if was is not None else 'without one'})")
    return "; ".join(changed) or None
