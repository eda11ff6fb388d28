"""What a run checks before anything starts: no request sent, no Prefect, no emulator, no state written.

    prepared = check_run(request)   # the input read and checked once; the run reuses this reading

In order: the cost cap (`--max-cost` needs a known price for the model, `--prices` a valid file), each
endpoint's key and proxy (`server_access`), the input
(readable, CSV/Parquet/JSONL, the template's columns present, ids unique, no column named like a result
column), where the state and the output go (a folder that can hold the batch, its state files' footers
readable; an output with a known extension in a folder that can be written or created, not the input
file), the batch's leases (a live runner holding it, or a shard of one, refuses a second run, by name:
found here in a few seconds, rather than after Prefect's start-up), the server the batch last ran on and
what it asked of a row (`same_server`), earlier batches of a changed input that sent some of its rows
(`earlier_batches`),
rows whose input changed under their ids since the batch planned them, or that wait on a response made
on an endpoint this run does not list (the plan's own refusals, made here before Prefect and the
emulator start), and the `--agent` factory. Each problem is one
`UsageError` (or `LeaseHeldError`) naming the option or file; the settings' own values were checked
when the request was built (`load_settings`).
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path

from rowrelay.flows import cluster
from rowrelay.flows.cli_errors import state_problem
from rowrelay.flows.earlier_batches import check_earlier_batches
from rowrelay.flows.input_reading import prepared_for
from rowrelay.flows.kept_prices import kept_cap_problem
from rowrelay.flows.request import BatchRequest
from rowrelay.flows.same_server import check_same_requests, check_same_server, state_rows
from rowrelay.flows.server_access import check_keys, check_proxies
from rowrelay.flows.spec_changes import check_same_spec
from rowrelay.tasks.dataset import (
    RESULT_COLUMNS,
    PreparedInput,
    output_problem,
    read_prepared,
    replaces_input,
    result_clash,
)
from rowrelay.tasks.dataset.typed import field_clashes
from rowrelay.tasks.errors import DamagedFileError, UsageError
from rowrelay.tasks.llm.prices import cap_problem
from rowrelay.tasks.records import rows
from rowrelay.tasks.setting_problems import given_as, option_of
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import check_state_files, state_directory_problem
from rowrelay.tasks.state.files import BATCH_FILE, MAIN_WRITER
from rowrelay.tasks.state.lease import held_error, live_beside, live_holder
from rowrelay.tasks.state.results import asked_columns, tool_columns
from rowrelay.tasks.state.run_record import RunRecord

__all__ = [
    "check_destinations",
    "check_prompts",
    "check_resume",
    "check_run",
    "check_state_readable",
    "check_state_rows",
    "columns_asked",
    "read_checked",
]


def check_run(request: BatchRequest) -> PreparedInput:
    """Everything `rowrelay run` checks before it starts the flow; returns the input's one reading."""
    endpoints = {endpoint.name: endpoint.settings for endpoint in request.endpoints or ()} or None
    problem = cap_problem(request.settings, request.price_table(), endpoints=endpoints)  # each priced
    if problem is not None and "prices" in request.settings.model_fields_set:
        raise UsageError(problem)
    check_keys(request)  # the variables the endpoints name were read when the request was built
    check_proxies(request)
    prepared = read_checked(request)
    state_dir = request.state_dir(prepared)
    check_destinations(request, state_dir)
    check_state_readable(state_dir)
    if problem is not None and (problem := kept_cap_problem(problem, request.settings, state_dir, endpoints)):
        raise UsageError(problem)  # at the prices the batch recorded, which a run given none takes
    now = time.time()  # a run's coordinator, else its shards on Dask workers, or a repair
    holder = live_holder(state_dir, MAIN_WRITER, now) or live_beside(state_dir, MAIN_WRITER, now)
    if holder is not None:
        raise held_error(state_dir, holder)
    check_resume(request, prepared, state_dir)
    check_state_rows(request, state_dir, prepared)
    if request.agent is not None:
        check_agent(request, prepared)
    cluster.precheck(request.dask, request.dask_workers, request.settings.dask_no_workers_after)
    return prepared


def check_state_rows(request: BatchRequest, state_dir: Path, prepared: PreparedInput) -> None:
    """What the plan would refuse in the state's rows, refused before Prefect and the emulator start: a
    row of the input holding another text than the batch sent under its id
    (`edited_inputs.changed_rows_problem`; a row never sent takes its edited text), a row waiting on a
    response made on an endpoint this run does not list (`shards.unreachable_problem`). The flow does
    not call this: its plan reads the state anyway."""
    if not (state_dir / BATCH_FILE).exists():
        return
    import pyarrow as pa
    import pyarrow.compute as pc

    from rowrelay.tasks.records import HOLDING_TOKEN
    from rowrelay.tasks.run import edited_inputs as edits  # to resume
    from rowrelay.tasks.run.rekeyed_rows import REKEY_FACTS, refuse_rekeyed
    from rowrelay.tasks.run.shards import unreachable_problem
    from rowrelay.tasks.state.results import changed_inputs

    table = state_rows(state_dir)
    changed = changed_inputs(table.select(["row_key", "input_hash"]), prepared.planned())
    edited = edits.edited_rows(table.select(list(edits.EDIT_FACTS)), prepared.planned()) if changed else None
    if edited is not None and edited.sent:  # rows never sent take their edited input
        check_same_spec(request, prepared, state_dir, table)  # whatever --resend-edited says
        # refused (a row that may still run said first), as the run's open leaves it (a dead run's
        # `submitting` row counted as an orphan, then resent), not as the files hold it
        reopened = edits.as_reopened(edited.sent_rows, table, state_dir, time.time())
        edits.refuse_sent_edits(reopened, state_dir, request.resend_edited)
    refuse_rekeyed(table.select(list(REKEY_FACTS)), prepared.planned())  # rows sent, under other ids
    holding = table.filter(pc.is_in(table.column("status"), pa.array(sorted(HOLDING_TOKEN))))
    listed = [endpoint.name for endpoint in request.endpoints] if request.endpoints else None
    problem = unreachable_problem(holding.column("endpoint").to_pylist(), listed)
    if problem is not None:
        raise UsageError(problem)


def read_checked(request: BatchRequest) -> PreparedInput:
    """The input, read and prepared (keys, prompts); a `UsageError` names what is wrong with it."""
    prepared = prepared_for(request, lambda reading: read_prepared(request.source, request.spec, reading))
    check_fields(request, prepared)
    check_prompts(request, prepared)
    return prepared


def check_prompts(request: BatchRequest, prepared: PreparedInput) -> None:
    """Refuse a template or prompt column that leaves every row's prompt blank. A blank row fails alone,
    unsent, as bad input; but with every row so, the option is what is wrong, and the run started Prefect
    and the emulator only to fail each row and exit 1. With attachments a row has more than its prompt."""
    if prepared.media or len(prepared.bad_rows) < len(prepared):
        return  # with no attachment, a row is bad only for its blank prompt (`PreparedInput.bad_rows`)
    spec = request.spec
    if spec.template is None:
        raise UsageError(
            f"{given_as('prompt_column', repr(spec.prompt_column))}: empty, blank or missing in all "
            f"{rows(len(prepared))}, so there is nothing to send"
        )
    names = list(dict.fromkeys(name for _, name in spec.parts() if name is not None))
    columns = f"column {names[0]} is" if len(names) == 1 else f"columns {', '.join(names)} are"
    raise UsageError(
        f"{given_as('template', repr(spec.template))}: renders blank in all {rows(len(prepared))} ({columns} "
        "empty, blank or missing in each), so there is nothing to send"
    )


def columns_asked(settings: Settings) -> tuple[str, ...]:
    """The result columns a run with these settings adds to its output (`results.asked_columns`)."""
    return asked_columns(settings)


def check_fields(request: BatchRequest, prepared: PreparedInput) -> None:
    """The output's columns: the input's, the results' (`RESULT_COLUMNS`) and, with structured outputs,
    the schema's fields. None may be named like another: the output writer would refuse the clash only
    after every row was paid for (an input with an `error` column once ran every row, then failed)."""
    added = [*RESULT_COLUMNS, *columns_asked(request.settings)]
    problem = result_clash(prepared.frame.columns, added)
    if problem is not None:
        where = request.input_path() or "the input DataFrame"
        raise UsageError(f"{where}: {problem}")
    schema = request.output_schema
    if schema is None:
        return
    clashes = field_clashes(schema.schema, [*map(str, prepared.frame.columns), "row_index", *added])
    if clashes:
        raise UsageError(
            f"{given_as('output_schema', repr(schema.source), '--schema')}: field(s) "
            f"{', '.join(clashes)} are named like input or result columns; rename them in the schema"
        )


def check_resume(request: BatchRequest, prepared: PreparedInput, state_dir: Path) -> RunRecord | None:
    """What the batch's earlier runs allow this one: the same server and the same requests of a row while
    rows hold their answers (`same_server`), the same prompts' making while rows sent would be sent
    again for it, with `--resend-edited` too (`spec_changes`: the flow's plan, after `run.json` is
    written again, could not tell), and no request sent again that an earlier batch of a changed input
    sent (`earlier_batches`). Checked by `rowrelay run` before anything starts, and by the flow.
    Returns the record whose server the run keeps on record (`check_same_server`), or None."""
    kept = check_same_server(request, state_dir, prepared.keys)
    check_same_requests(request, state_dir, prepared.keys)
    check_same_spec(request, prepared, state_dir)
    check_earlier_batches(request, prepared, state_dir)
    return kept


def check_destinations(request: BatchRequest, state_dir: Path) -> None:
    """Refuse a state directory that cannot hold the batch, or an output that could not be written, that
    is inside the state directory, or that is the input file."""
    problem = state_directory_problem(state_dir)
    if problem is not None:
        raise UsageError(f"{_named('state', request.state is not None, state_dir)}: {problem}")
    output = request.output_path(state_dir)
    problem = output_problem(output, state_dir)
    replaced = replaces_input(output, request.input_path())
    if problem is None and replaced is not None:
        problem = f"{replaced}, and the next run would read it as its input"
    if problem is not None:
        raise UsageError(f"{_named('output', request.output is not None, output)}: {problem}")


def check_state_readable(state_dir: Path) -> None:
    """Refuse a batch whose state files are damaged where a resume would find it at once (torn, not
    Parquet, not ours): the run would stop on them only after starting Prefect and the emulator."""
    try:
        check_state_files(state_dir)
    except DamagedFileError as exc:
        raise UsageError(state_problem(exc, state_dir)) from exc


def _named(name: str, given: bool, path: Path) -> str:
    """`--state PATH` as given, or the default path and the option (from Python: `state`) choosing another."""
    return (
        given_as(name, str(path)) if given else f"{path} (the default; choose another with {option_of(name)})"
    )


def check_agent(request: BatchRequest, prepared: PreparedInput) -> None:
    """Import the agent factory, check it takes the one argument rowrelay gives it (the client), and
    call it once (it only builds objects): a factory that raises, returns no agent or builds its agent
    on a client of its own is refused here in one line (`agent_factory.build_agent`), not after Prefect
    has started. An agent with server-side tools adds their result columns, which may not clash."""
    from rowrelay.tasks.llm.agent_backend import load_agent_factory  # Agent Framework: only when asked
    from rowrelay.tasks.llm.agent_factory import check_factory, hosted_tools

    spec = request.agent
    assert spec is not None, "only asked of a run with --agent"
    factory = load_agent_factory(spec)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None  # a builtin or C callable without a signature: its call below will say
    if signature is not None:
        try:
            signature.bind(object())
        except TypeError as exc:
            raise UsageError(
                f"{given_as('agent', repr(spec))}: must be a function taking the client and returning an "
                f"Agent ({exc})"
            ) from exc
    settings = request.settings
    agent = check_factory(factory, settings.model, settings.base_url)
    if hosted_tools(agent):
        problem = result_clash(prepared.frame.columns, tool_columns())
        if problem is not None:
            raise UsageError(f"{request.input_path() or 'the input DataFrame'}: {problem}")
