"""The batch flow: every row of a dataset through a background LLM request, checkpointed and resumable.

    load input ─▶ plan (state table) ─▶ process shards (async runner) ─▶ export

`run_batch` is an async Prefect flow: call it from Python, `await` it in a notebook cell, or run it from
a deployment. Running it again on the same state directory resumes: completed rows are never sent
again, rows holding a continuation token are polled (or streamed from their cursor) first, and the
rest are submitted under the rate budget. The run's close (the output written, the summary said, the
result) is `flows.batch_close`.

    result = await run_batch("data/sample/tickets.csv", template="Triage: {subject}\\n{body}",
                             id_column="ticket_id")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from prefect.context import SyncClientContext, TagsContext

from rowrelay.flows.backends import embedded_kept_up
from rowrelay.flows.batch_close import finish, reread
from rowrelay.flows.batch_output import exported, rows_of_input
from rowrelay.flows.batch_result import BatchResult
from rowrelay.flows.cancel_hook import cancel_on_the_server, running
from rowrelay.flows.cluster import ClusterChoice, check_cost_cap, started
from rowrelay.flows.cluster_run import coordinator_kept_alive
from rowrelay.flows.handed_input import handed_over, prepared_input
from rowrelay.flows.input_reading import prepared_for
from rowrelay.flows.killed_runs import leases_name_this_flow_run, mark_killed_holder_crashed
from rowrelay.flows.outcome import FailThreshold, final_state, left_as_found, not_completed
from rowrelay.flows.precheck import check_destinations, check_fields, check_prompts, check_resume, check_run
from rowrelay.flows.processing import process, whole
from rowrelay.flows.request import BatchRequest
from rowrelay.flows.run_end import ends_recorded
from rowrelay.flows.run_labels import label_flow_run
from rowrelay.flows.run_logs import sent_to_flow_run
from rowrelay.flows.run_orphans import orphans_at_open
from rowrelay.flows.run_record import kept_policies, record_run
from rowrelay.flows.server_access import check_keys
from rowrelay.flows.service_users import announced, services_a_run_uses
from rowrelay.flows.stop_said import note_batch, note_finished
from rowrelay.flows.stopped_output import STOPS_AFTER_SENDING, write_at_stop
from rowrelay.flows.targets import backend_label, resolve_targets
from rowrelay.flows.tracked_flow import flow  # recorded in the local Prefect server when called
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.llm.agent_transport import agent_said
from rowrelay.tasks.run import open_table
from rowrelay.tasks.setting_problems import words_of
from rowrelay.tasks.steps import load_input

if TYPE_CHECKING:
    import pyarrow as pa
    from prefect.task_runners import TaskRunner

    from rowrelay.tasks.llm.agent_backend import AgentFactory


def _checked(arguments: Mapping[str, Any]) -> tuple[BatchRequest, ClusterChoice | None]:
    """The run's request and cluster from `run_batch`'s arguments by name, each checked: a bad one raises
    `UsageError` naming it. Asked of every call before a flow run exists (a run stores its parameters as
    given, and a refused one may hold a secret: a base URL's credentials, an endpoint's key), and again in
    the run, which a deployment's worker starts without a call."""
    given = dict(arguments)
    task_runner = given.pop("task_runner", None)
    request = BatchRequest.build(given.pop("source"), **given)
    return request, ClusterChoice.of(request.dask, request.dask_workers, task_runner)


def _called(arguments: Mapping[str, Any]) -> AbstractContextManager[None]:
    """A call's check before its flow run exists: the options (`_checked`), then everything `rowrelay
    run` checks before it starts anything (`precheck.check_run`: the input, where the state and output
    go, the batch's lease, the agent). Found in the run, a template naming a column the input lacks was
    refused only after a Prefect server had started (for a first call, the local one) and a flow run had
    been made, Failed. Returns the block that hands the input's one reading to the run; a call the CLI
    makes, inside its own such block, was checked already. A problem names the parameter, as a Python
    caller gave it (`rpm`), not the command line's option (`--rpm`), in the check and in the run."""
    with words_of("python"):
        request, _ = _checked(arguments)  # the CLI's call: the very request it built, so no problem
        if handed_over(request) is not None:
            return words_of("cli")  # the CLI's own run: its problems name its options
        prepared = check_run(request)
    return _called_from_python(request, prepared)


@contextlib.contextmanager
def _called_from_python(request: BatchRequest, prepared: PreparedInput) -> Iterator[None]:
    """The block a call from Python runs in: its input's one reading handed to the run, its problems said
    in Python's words."""
    with prepared_input(request, prepared), words_of("python"):
        yield


# Parameters are not validated by Prefect: `_checked` checks every one, in the CLI's one line, naming
# the parameter (`UsageError: rpm: must be a whole number (got 'fast')`), where Prefect's check refused a
# `Path` for `state` and said a wrong value with the whole DataFrame and every parameter, as a failed run.
@flow(
    name="rowrelay-batch",
    log_prints=False,
    on_cancellation=[cancel_on_the_server],
    validate_parameters=False,
    check=_called,
)
async def run_batch(
    source: Any,
    template: str | None = None,
    prompt_column: str | None = None,
    instructions: str | None = None,
    model: str | None = None,
    id_column: str | None = None,
    image_column: str | None = None,
    image_detail: str | None = None,
    file_column: str | None = None,
    logprobs: int | None = None,
    state: str | Path | None = None,
    output: str | Path | None = None,
    mode: str | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    poll_rpm: int | None = None,
    max_in_flight: int | None = None,
    max_attempts: int | None = None,
    max_output_tokens: int | None = None,
    reasoning_effort: str | None = None,
    temperature: float | None = None,
    reasoning_summary: str | None = None,
    tools: str | list[dict[str, Any]] | dict[str, Any] | None = None,
    max_tool_calls: int | None = None,
    backend: str | None = None,
    base_url: str | None = None,
    agent: str | None = None,
    output_schema: Any = None,
    max_cost: float | None = None,
    service_tier: str | None = None,
    prices: str | Path | None = None,
    fail_when_failed: str | None = None,
    endpoints: Any = None,
    dask: str | None = None,
    dask_workers: int | None = None,
    task_runner: Any = None,
    limit: int | None = None,
    give_up_after: float | None = None,
    resend_edited: bool = False,
) -> BatchResult:
    """Send each row of `source` to a model as one prompt, and write every row's answer beside its input.
    Called again on the same input, it resumes the same batch: completed rows are never sent again, rows
    with a response under way are waited on, and the rest are sent.

    An async Prefect flow: `await` it in a notebook cell, or `asyncio.run(run_batch(...))` in a script
    (called without either, it returns a coroutine and sends nothing).

        from rowrelay import run_batch
        result = await run_batch("tickets.csv", template="Triage: {subject}: {body}", id_column="ticket_id")
        print(result.counts, result.output)

    The arguments to give first:

    - `source`: a file, by its extension `.csv`, `.tsv`, `.parquet` (or `.pq`), `.jsonl` (or `.ndjson`),
      or `.json` holding a list of records; or a pandas DataFrame.
    - `template`: the prompt, with `{column}` fields filled from each row (`"Triage: {subject}"`); or
      `prompt_column`, a column holding each row's whole prompt. Exactly one of the two.
    - `id_column`: a column of unique ids, the rows' keys in the state and output. Without it a row's key
      is a hash of its input, so an edited row is a new row, sent again.
    - `state`: the batch's state directory, which resumes it. Default: `data/state/<input name>-<hash of
      the input>` in the current folder, so the same input and prompt resume the same batch.
    - `output`: the output file, in the format its extension names (`.parquet`, `.csv`, `.tsv`, `.jsonl`).
      Default: `data/output/<the state directory's name>.parquet`.
    - `model`: default `gpt-4.1-mini`. With no OpenAI key or base URL in the environment (`OPENAI_API_KEY`,
      `OPENAI_BASE_URL`, `ROWRELAY_*`), rows go to rowrelay's embedded emulator, whose answers are made
      up.

    Every other argument is the `rowrelay run` option of the same name, `-` written `_` (`--max-in-flight`
    is `max_in_flight`, `--schema` is `output_schema`): `rowrelay run --help` says what each does, and one
    not given takes the default the option does there (from its `ROWRELAY_*` variable, if set). From Python,
    `output_schema` also takes a Pydantic model class or a JSON Schema dict, `tools` a list of the API's
    tool dicts, and `endpoints` a list of entries; `agent` is a factory's import name
    (`"mypkg.agents:make_agent"`), never the function itself; `task_runner` (Python's only) is a
    `prefect_dask.DaskTaskRunner` to run the shards on.

    Returns a `BatchResult`: `counts` (rows per status), `output` and `state_dir` (absolute paths),
    `cost_usd` (None without a price for the model), `all_completed`, and `stopped` (why the run stopped
    sending rows early, as at the `max_cost` cap; None otherwise). Rows that failed are counted, not
    raised: `rowrelay.retry(result.state_dir)` (`rowrelay retry STATE`) makes them eligible for the next
    call.

    Raises (each a `rowrelay.RowrelayError`):

    - `UsageError`: a bad argument, input or template, refused before anything is sent;
    - `LeaseHeldError`: another run (or another call in this process) holds the batch;
    - `OutageError`: the server answered no request for `give_up_after` seconds (default 3,600); the
      rows keep their response ids, and the same call resumes;
    - `FailWhenFailedError`: more rows than `fail_when_failed` did not complete; its `result` is the
      `BatchResult`, the output written.

    Cancelling the call (a notebook's Interrupt button, a task's cancel, a timeout) cancels its in-flight
    responses on the server and raises asyncio's `CancelledError`; the same call resumes.
    """
    arguments = dict(locals())  # the first statement: the parameters by name, and nothing else yet
    request, cluster = _checked(arguments)
    # Task runs without the flow run's tags: with tags, Prefect's task engine takes a tag-concurrency
    # lease from the server when each task starts and gives it back when it ends, two more write
    # transactions each. On the local server's SQLite those met the run's own log and artifact writes:
    # a `503 database is locked` held the export back 2 s in half the 1,000-row runs measured. The flow
    # run keeps its tags, which automations and filters match on.
    # One Prefect client for every task run: without a client in context, each task run (load, plan,
    # shards, export) and the result store made its own, and each loaded the CA bundle (60 ms of CPU
    # on this machine) on the way to the first create or after the last answer (py-spy). Called from
    # Python or the CLI, the flow already runs in one (flows/tracked_flow.py), reused here; a
    # deployment's worker runs the flow without that call.
    with (
        # Found by `rowrelay services stop` however the run was started (a script, a notebook, a schedule)
        announced(request.settings.home.expanduser(), services_a_run_uses(request)),
        sent_to_flow_run(),
        TagsContext(current_tags=set()),
        SyncClientContext.get_or_create(),
        leases_name_this_flow_run(),  # so a run taking over from this one, killed, can mark it Crashed
    ):
        if cluster is None:
            return await _run(request, None)
        check_cost_cap(request.settings)
        waited = request.settings.dask_no_workers_after  # for its first worker, as for one gone mid-run
        async with started(cluster, waited) as runner:  # before the emulator starts or anything is sent
            return await _run(request, runner)


@ends_recorded  # how it ended, noted in run.json for a later `rowrelay status`
async def _run(request: BatchRequest, runner: TaskRunner[Any] | None) -> BatchResult:
    prepared = handed_over(request) or prepared_for(
        request, lambda reading: load_input(whole(request.source), request.spec, reading)
    )
    check_fields(request, prepared)
    check_prompts(request, prepared)  # as `rowrelay run` refuses it, in a call from Python too
    check_keys(request)
    factory = _agent_factory(request.agent)
    state_dir = request.state_dir(prepared)
    check_destinations(request, state_dir)  # before the emulator starts or the state dir is made
    kept = check_resume(request, prepared, state_dir)  # the server on record, when this run's is not it
    request = kept_policies(request, state_dir)  # the batch's --max-attempts and orphan policy, unless given
    settings, url, targets = resolve_targets(request)
    table = open_table(state_dir, settings)
    held_orphans = orphans_at_open(table)  # the closing line says only those this run adds
    found_ended = not_completed(table.latest())  # the final state says which ended in earlier runs
    out = request.output_path(state_dir)
    note_batch(state_dir, out, on_workers=runner is not None)  # what a stop of this call then says
    await label_flow_run(table.batch_id, settings.model, backend_label(targets))
    await mark_killed_holder_crashed(table.lease)  # the run this one took over from, killed outright
    try:
        with running(state_dir), contextlib.closing(table), embedded_kept_up(settings, url, table):
            record = record_run(state_dir, request, out, settings, url, targets, prepared.reading, kept)
            async with coordinator_kept_alive(None if runner is None else table.heartbeat):
                stopped, held_back, lost_before = await process(
                    settings, table, prepared, targets, factory, request, runner, record
                )
    except STOPS_AFTER_SENDING as stop:  # rows may have completed, and been paid for, before it

        def read() -> pa.Table:
            return rows_of_input(reread(table, runner, settings), prepared)[0]

        def write(latest: pa.Table) -> object:
            return exported(latest, prepared, out, settings, request.output_schema, state_dir)

        write_at_stop(stop, read, write, out, state_dir)
        raise
    table = reread(table, runner, settings)
    # An agent's runs reach the API through its backend; the line says whose calls they were too.
    agent = agent_said(request.agent, {target.settings.backend for target in targets})
    labelled = (backend_label(targets) + agent, url)
    result = await finish(
        table, prepared, out, settings, labelled, request.output_schema, held_orphans, stopped, held_back,
        lost_before,
    )  # fmt: skip
    # Prefect takes a returned state as the run's final one: a caller receives `result` when it is
    # Completed, and an exception carrying the message when it is Failed (the CLI asks for the state).
    threshold = FailThreshold.parse(request.fail_when_failed)
    note_finished()
    earlier = left_as_found(found_ended, table.latest())
    return cast(BatchResult, final_state(result, result.run_counts, threshold, earlier))


def _agent_factory(spec: str | None) -> AgentFactory | None:
    if spec is None:
        return None
    from rowrelay.tasks.llm.agent_backend import load_agent_factory  # Agent Framework only when asked for

    return load_agent_factory(spec)
