"""`rowrelay export STATE`: the input joined with each row's current result, written in input order.

Apart from the other state commands (flows/state_commands.py) because it alone reads the batch's input
as its run read it, and writes where its run writes: it refuses an input edited under the rows it sent
(their results answer the earlier text) and a running batch's own output (the run overwrites it). Like
them, it imports pandas only when it runs (tests/flows/test_cli_imports.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rowrelay.flows.cli_errors import fail, state_problem
from rowrelay.flows.default_batch import the_batch
from rowrelay.flows.state_commands import StateArg, existing, out
from rowrelay.tasks.errors import OutputWriteError, StateError, UsageError
from rowrelay.tasks.records import rows

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["export"]


def _refuse_a_running_batchs_output(state: Path, output: Path) -> None:
    """A run holding the batch writes its output when it ends: an export there now is a snapshot of rows
    in flight that the run overwrites, or, if the run dies, that stays as the batch's output, with nothing
    saying it was taken mid-run (it was written with a plain `wrote ...`)."""
    import time

    from rowrelay.tasks.state.lease import live_holders

    holders = live_holders(state, time.time())
    if holders:
        fail(
            f"{state}: a run holds this batch ({holders[0].describe()}) and writes {output} when it ends; "
            "pass --output OTHER for a snapshot of its rows now"
        )


def export(
    state: StateArg = None,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Where to write (.parquet/.pq, .csv, .tsv or .jsonl/.ndjson); by default the batch's own "
            "output, where its run writes.",
            show_default=False,
        ),
    ] = None,
    input: Annotated[Path | None, typer.Option(help="The batch's input, if it has moved.")] = None,
) -> None:
    """Write the input joined with each row's current result, in input order."""
    state = the_batch(state, "export")  # before pandas' import: a refusal here needs none
    from rowrelay.flows.input_reading import reading_of
    from rowrelay.tasks.dataset import InputSpec, output_problem, read_prepared, replaces_input, write_output
    from rowrelay.tasks.dataset.readings import saved_frame_reading
    from rowrelay.tasks.run.edited_inputs import EDIT_FACTS, edited_rows
    from rowrelay.tasks.state import is_state_directory, read_run_record, read_table, results_frame
    from rowrelay.tasks.state.results import asked_columns

    # Before anything is read, as `run` does; only a folder holding a batch has files an output would
    # land among (a folder that is none is said as such just below).
    batch = state if is_state_directory(state) else None
    if output is not None and (problem := output_problem(output, batch)) is not None:
        fail(f"--output {output}: {problem}")
    try:
        record = read_run_record(existing(state))
    except StateError as exc:
        fail(state_problem(exc, state))
    if record is None:  # how the input's rows were read (template, id column) is on record alone
        fail(
            "this batch has no run on record (run.json): export reads the input as the run did, "
            "which only that record says (`rowrelay status` still reads the rows)"
        )
    if output is None:
        if not record.output:
            fail("this batch has no output on record: pass --output")
        output = Path(record.output)
        if (elsewhere := _ran_elsewhere(state, record.state)) is not None:
            fail(
                f"this batch ran in {elsewhere}, and its folder was copied or moved here since: the output "
                f"on record, {output}, is where that folder's runs write (exporting this one there would "
                "overwrite it); pass --output with where to write this one's"
            )
        if (problem := output_problem(output, state)) is not None:
            fail(f"the batch's output {output}: {problem}")
    if record.output and output.resolve() == Path(record.output).resolve():  # however it is spelled
        _refuse_a_running_batchs_output(state, output)
    source = input or (Path(record.input) if record.input else None)
    if source is None:  # a run from Python on a DataFrame: no file to read
        fail(
            "this batch's input was a DataFrame: pass --input with it saved to a file "
            "(frame.to_parquet(PATH)), or call run_batch on it again, which writes the output"
        )
    if input is None and not source.exists():
        fail(f"this batch's input {source} is not there any more: pass --input with where it is now")
    replaced = replaces_input(output, source)
    if replaced is not None:
        fail(f"--output {output}: {replaced}")
    try:
        spec = InputSpec(**record.spec)
        reading = reading_of(record) if record.input else saved_frame_reading(reading_of(record))
        prepared = read_prepared(source, spec, reading)
        latest, _damaged = read_table(state)  # as `load` reads it; a damaged file raises
        edited = edited_rows(latest.select(list(EDIT_FACTS)), prepared.planned())
        if edited.sent:
            fail(_changed_since(source, edited.sent))
        asked = asked_columns(record)
        unsent: list[str] = edited.unsent.column("row_key").to_pylist()  # type: ignore[assignment]
        state_rows = _as_pending(latest.to_pandas(), unsent)
        results = results_frame(state_rows, prepared.keys, asked)
        if record.output_schema is not None:
            from rowrelay.tasks.dataset.typed import with_typed_columns

            results = with_typed_columns(results, record.output_schema, last=asked)
        path = write_output(prepared.frame, results, output)
    except StateError as exc:
        fail(state_problem(exc, state))
    except OutputWriteError as exc:
        fail(exc.said(state))
    except UsageError as exc:
        fail(str(exc))
    if unsent:
        out.print(
            f"{rows(len(unsent))} never sent changed since the batch ran (e.g. {', '.join(unsent[:5])}): "
            f"written as pending; the next run sends {'it' if len(unsent) == 1 else 'them'} as edited",
        )
    out.print(f"wrote {path}")


def _ran_elsewhere(state: Path, recorded: str | None) -> str | None:
    """Where the batch's last run ran it, when that is not `state` (the folder was copied, or moved, since
    the record was written); None when it is, or the record does not say (an older release wrote it)."""
    if recorded is None:
        return None
    try:
        if state.resolve() == Path(recorded).resolve() or state.samefile(recorded):
            return None
    except OSError:  # the recorded folder is not there (moved, or on another machine's disk)
        pass
    return recorded


def _as_pending(state: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`state` with the rows `keys` (never sent, their input edited since: `edited_inputs`) as the next
    run takes them: pending, with no error (one that failed before sending did so for its earlier text,
    an empty prompt say, which its row in the output no longer holds)."""
    if keys:
        edited = state["row_key"].isin(keys)
        state.loc[edited, "status"] = "pending"
        state.loc[edited, ["error_type", "error_code", "error_message"]] = None
    return state


def _changed_since(source: Path, changed: list[str]) -> str:
    """An input whose rows changed under their keys since the batch ran them: their results answer the
    earlier text, and written beside the new one they would look like its answers."""
    them, their = ("it", "its result answers") if len(changed) == 1 else ("them", "their results answer")
    sample = ", ".join(changed[:5])
    return (
        f"{rows(len(changed))} of {source} changed since the batch ran {them} (e.g. {sample}): {their} the "
        "earlier text; pass the input the batch ran with --input, or run the batch over this one with "
        "rowrelay run --resend-edited, which sends only the edited rows again (paid for again)"
    )
