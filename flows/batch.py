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
    """Run (or resume) a batch. `source` is a CSV/Parquet/JSONL path, or a DataFrame from Python.

    `image_column` names a column of images sent with each row's prompt: http(s) or data URLs, uploaded
    file ids, or local image files (relative to the input file's folder), several as a JSON array or a
    list (tasks/dataset/media.py); `image_detail` (`low`, `high`, `auto`, `original`) how closely the
    model looks at them; `file_column` a column of files (PDFs, documents, spreadsheets) sent the same
    way. `logprobs` (0 to 20) keeps each answer token's log probability and that many likeliest
    alternatives: the output gets `answer_logprob` (exp() of it: a classification row's confidence) and
    `token_logprobs`.
    `agent` names an Agent Framework agent factory, `package.module:function` taking an
    `OpenAIChatClient` and returning an `Agent`: every row is then run by that agent.
    `output_schema` (structured outputs) is a JSON Schema file, `module:Model`, a JSON Schema dict or a
    Pydantic model class: every answer must be JSON valid against it, and the output gets a typed column
    per top-level field. `max_cost` caps what the batch may cost in US dollars (`result.stopped` says
    when the cap stopped it), `service_tier` asks for `flex`, `default` or `priority`, and `prices` names
    a price file over rowrelay's own. `max_output_tokens` caps each answer (reasoning included) and
    `reasoning_effort` asks a reasoning model for `none` ... `max` effort (the API's `reasoning.effort`),
    and `temperature` (0 to 2) how freely any other model samples its answer; `reasoning_summary`
    (`auto`, `concise`, `detailed`) puts each row's reasoning summary in a `reasoning_summary` column.
    `tools` offers the model server-side tools (web search, file search, code interpreter, a remote MCP
    server): names (`"web_search"`), a JSON file, or the API's tool objects themselves (a list of dicts);
    `max_tool_calls` bounds the calls one row's response makes (tasks/hosted_tools.py).
    `fail_when_failed` (`N` or `P%`): past that many rows that did not complete, the flow run ends
    `Failed` instead of `Completed` with the counts (flows/outcome.py).
    `endpoints` (a TOML or JSON file, or a list of entries) spreads the rows across several endpoints,
    each with its own key, base URL or deployment and its own limits (tasks/run/endpoints.py).
    `dask` (a scheduler address), `dask_workers` (a LocalCluster of that many worker processes) or
    `task_runner` (a `prefect_dask.DaskTaskRunner` of any cluster class) run the shards on Dask workers
    under one rate budget for the whole batch (flows/cluster.py).

    `limit` sends at most that many rows in this run, the first to send in input order: a trial on a few
    rows whose results the batch keeps (it is still the whole input's, so a run without a limit sends only
    the rest; `result.held_back` counts the rows left to it).

    `resend_edited=True` sends again, under their new text, the rows this batch sent whose input was
    edited since (each paid for again, its earlier answer dropped; a row still waiting on a response to
    its old text is refused): without it, such rows refuse the run, `UsageError` (run/edited_inputs.py).

    `give_up_after` (seconds, default 3,600; 0 never): a run whose server answers no request for that
    long while rows try stops with `OutageError`; its rows keep their response ids for the next run.
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
