"""`rowrelay run`: check the input and options before anything starts, then run the batch flow with a
progress bar and exit with the batch's code (0 all completed, 1 not, 2 the user's to fix)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.text import Text

from rowrelay.flows import run_options as options
from rowrelay.flows.cli_errors import fail, state_problem, told_once
from rowrelay.flows.cli_options import LIMIT, Opt, err, request_of
from rowrelay.tasks.errors import (
    CrashedAlikeError,
    LeaseHeldError,
    OutputWriteError,
    RunStoppingError,
    StateError,
    UsageError,
)

if TYPE_CHECKING:
    from rowrelay.flows.request import BatchRequest
    from rowrelay.tasks.dataset import PreparedInput
    from rowrelay.tasks.run.cancel import Cancelled

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
"""The one-command app `rowrelay` builds when `run` is asked for (`cli._DeferredGroup`)."""


@app.command()
def run(
    input: Annotated[
        Path,
        typer.Argument(
            help="CSV (or ; tab | separated), TSV, Parquet, JSONL or JSON (.csv .tsv .parquet .pq .jsonl "
            ".ndjson .json): one request per row."
        ),
    ],
    template: options.Template = None,
    prompt_column: options.PromptColumn = None,
    instructions: options.Instructions = None,
    image_column: options.ImageColumn = None,
    image_detail: options.ImageDetail = None,
    logprobs: options.Logprobs = None,
    file_column: options.FileColumn = None,
    model: options.Model = None,
    id_column: options.IdColumn = None,
    state: Annotated[Path | None, Opt(help="Batch state directory; the same one resumes.")] = None,
    output: options.Output = None,
    mode: options.Mode = None,
    rpm: options.Rpm = None,
    tpm: options.Tpm = None,
    poll_rpm: options.PollRpm = None,
    max_in_flight: options.MaxInFlight = None,
    max_attempts: options.MaxAttempts = None,
    max_output_tokens: options.MaxOutputTokens = None,
    reasoning_effort: options.ReasoningEffort = None,
    temperature: options.Temperature = None,
    reasoning_summary: options.ReasoningSummary = None,
    tools: options.Tools = None,
    max_tool_calls: options.MaxToolCalls = None,
    base_url: options.BaseUrl = None,
    backend: options.Backend = None,
    agent: options.Agent = None,
    schema: options.Schema = None,
    max_cost: options.MaxCost = None,
    service_tier: options.ServiceTier = None,
    prices: options.Prices = None,
    fail_when_failed: options.FailWhenFailed = None,
    endpoints: options.Endpoints = None,
    dask: options.Dask = None,
    dask_workers: options.DaskWorkers = None,
    limit: Annotated[int | None, Opt(help=LIMIT)] = None,
    give_up_after: options.GiveUpAfter = None,
    resend_edited: options.ResendEdited = False,
) -> None:
    """Run a batch, or resume it: the same command again picks up where it stopped."""
    request = request_of(
        input, template=template, prompt_column=prompt_column, id_column=id_column,
        image_column=image_column, image_detail=image_detail, file_column=file_column,
        instructions=instructions,
        state=state, output=output, agent=agent, model=model, mode=mode, rpm=rpm, tpm=tpm, poll_rpm=poll_rpm,
        max_in_flight=max_in_flight, max_attempts=max_attempts, max_output_tokens=max_output_tokens,
        reasoning_effort=reasoning_effort, temperature=temperature,
        reasoning_summary=reasoning_summary, tools=tools, max_tool_calls=max_tool_calls, backend=backend,
        logprobs=logprobs,
        base_url=base_url,
        output_schema=schema, max_cost=max_cost, service_tier=service_tier,
        prices=None if prices is None else str(prices), fail_when_failed=fail_when_failed,
        endpoints=None if endpoints is None else str(endpoints), dask=dask, dask_workers=dask_workers,
        limit=limit, give_up_after=give_up_after, resend_edited=resend_edited,
    )  # fmt: skip
    prepared = _precheck(request)
    from rowrelay.flows.service_users import announced, services_a_run_uses

    # Before the services are looked up: `rowrelay services stop` in the run's first seconds is refused.
    with announced(request.settings.home.expanduser(), services_a_run_uses(request)):
        _run_flow(request, prepared)


def _run_flow(request: BatchRequest, prepared: PreparedInput) -> NoReturn:
    """Run the batch flow with a progress bar; exit with the batch's code (0 all completed, 1 not)."""
    # The run's loop: its callbacks cost 5-8% less CPU than asyncio's (tests/benchmarks/RESULTS.md, tier 5).
    import uvloop

    from rowrelay.flows import console_progress
    from rowrelay.flows.backends import needs_embedded_emulator
    from rowrelay.flows.embedded import start_emulator_early
    from rowrelay.flows.local_prefect import PrefectTracking
    from rowrelay.flows.prefect_api import engine_refusal

    began = time.time()  # an output written since is this run's (`stopped_with_nothing_in_flight`)
    tracking = PrefectTracking.begin(request.settings)  # a server it starts warms up during the import
    if not request.endpoints and needs_embedded_emulator(request.settings):  # as `resolve_targets` decides
        try:
            tracking.check_reachable()  # else `applied` refuses the run: no emulator started for it
        except UsageError as exc:
            fail(str(exc))
        start_emulator_early(request.settings.home, request.settings.emulator_args)
    from prefect.exceptions import TerminationSignal

    from rowrelay.flows.batch import run_batch  # Prefect's import costs a second
    from rowrelay.flows.handed_input import prepared_input
    from rowrelay.flows.run_labels import tags_for
    from rowrelay.flows.termination import SwallowedStop, terminated_as_raised
    from rowrelay.tasks.errors import (
        BankUnreachableError,
        FailWhenFailedError,
        OutageError,
        WorkersGoneError,
    )
    from rowrelay.tasks.llm import BackendRefusedError, NotTheApiError
    from rowrelay.tasks.run.cancel import stops_seen
    from rowrelay.tasks.steps import RUN_STOPPERS

    swallowed = SwallowedStop(TerminationSignal)
    stops: list[Cancelled] = []

    async def go() -> object:
        swallowed.guard()
        stops_seen.set(stops)  # this run's own context: gone with it
        batch_tags = tags_for(request.state_dir(prepared).name, request)
        with console_progress.bar(err) as sink, prepared_input(request, prepared), batch_tags:
            token = console_progress.install(sink)
            try:
                # The state, not the result: a run past --fail-when-failed ends Failed yet has a result.
                state = await run_batch(**request.parameters(), return_state=True)
                result = await state.aresult(raise_on_failure=False)
                if isinstance(result, FailWhenFailedError):  # the counts are said below, and exit 1
                    return result.result
                if isinstance(result, BaseException):
                    raise result
                return result
            finally:
                console_progress.uninstall(token)

    try:
        reported = told_once(*RUN_STOPPERS, signals=(TerminationSignal,))
        with tracking.applied(err.out), reported, terminated_as_raised(TerminationSignal):
            try:
                result = uvloop.run(go())
            except BaseException as exc:
                if swallowed.signum is None:
                    raise
                raise TerminationSignal(signal=swallowed.signum) from exc  # reported below, as any SIGTERM
    except StateError as exc:
        fail(state_problem(exc, request.state_dir(prepared)))
    except UsageError as exc:
        fail(str(exc))
    except OutputWriteError as exc:
        fail(exc.said(request.state_dir(prepared)))
    except NotTheApiError as exc:
        # Counted on their rows, the creates so answered (a web server may have passed them on).
        counted = "each create so answered is counted on its row, in case it started a job"
        _stopped_after_sending(exc, f"{exc}. The run stopped; {counted}")
    except BackendRefusedError as exc:
        # Not the rows' fault (a key, a model, an account out of credit, a certificate): the user's to fix
        # or go round, so exit 2, in one line, with its one way on (its words' own, where they name one);
        # Prefect's run log keeps the details. Creates on the wire were counted on their rows. The server's
        # message may end in a full stop: not before our semicolon.
        said = str(exc).rstrip(". ")
        lead = "the backend refused this batch, so the run stopped" if exc.refused else "the run stopped"
        _stopped_after_sending(exc, f"{lead}: {said}" + ("" if exc.way_on is None else f"; {exc.way_on}"))
    except BankUnreachableError as exc:
        said = f"{exc}, so the run stopped; rows keep their state, and the same command resumes them"
        _stopped_after_sending(exc, said, code=1)
    except OutageError as exc:
        _stopped_after_sending(exc, str(exc), code=1)  # nothing to fix but the server, or its address
    except WorkersGoneError as exc:
        _stopped_after_sending(exc, str(exc), code=1)  # nothing to fix but the cluster
    except CrashedAlikeError as exc:
        _stopped_after_sending(exc, str(exc), code=1)  # rows were sent (not a usage error)
    except RunStoppingError as exc:  # one not named above: still one line, as the console has it
        fail(str(exc))
    except RuntimeError as exc:
        refused = engine_refusal(exc, configured=tracking.probe is not None)
        if refused is None:
            raise
        fail(refused)
    except KeyboardInterrupt:
        err.print(_stopped("interrupted", request, prepared, stops, began), soft_wrap=True)
        raise typer.Exit(130) from None
    except TerminationSignal as exc:
        # SIGTERM (a supervisor, `kill`, `timeout`): Prefect's handler turns it into this exception, and
        # the run unwinds as for Ctrl-C. Exit as a process ended by that signal would.
        err.print(_stopped("terminated", request, prepared, stops, began), soft_wrap=True)
        raise typer.Exit(128 + exc.signal) from None
    raise typer.Exit(console_progress.closing_summary(err, result))


def _stopped_after_sending(stop: BaseException, message: str, code: int = 2) -> NoReturn:
    """`error: message` and exit `code`, as `fail` says it; under it, what the run left as it stopped
    (`stopped_output.left_at_stop`: the output written and its rows, where the state is): a run stopped
    after 14 rows completed said only the error, as if nothing had been done."""
    from rowrelay.flows.stopped_output import left_at_stop

    try:
        fail(message, code=code)  # prints the error line first, then exits
    finally:
        if (left := left_at_stop(stop)) is not None:
            err.print(left, markup=False, highlight=False, soft_wrap=True)


def _stopped(
    how: str, request: BatchRequest, prepared: PreparedInput, stops: list[Cancelled], since: float
) -> Text:
    """`interrupted: 10 in-flight responses were cancelled; ...`: what a stopped run did to its work on the
    server, from what its runners said as they stopped (`run.cancel.stops_seen`), and how to go on. Text,
    not markup: a server's message may hold brackets. `since`: when the run began (time.time())."""
    from rowrelay.tasks.run.cancel import said_on_stop

    resume = "run the same command to resume"
    if request.dask or request.dask_workers:  # runners on the workers: their logs say what they did
        said = f"in-flight responses were cancelled; {resume}"
    elif not stops:  # no runner was stopped: before the rows' turn (Prefect's start, the plan), or after it
        state_dir = request.state_dir(prepared)
        said = stopped_with_nothing_in_flight(state_dir, request.output_path(state_dir), since)
    elif any(stop.unreached or stop.left for stop in stops):
        cancel = f"rowrelay cancel {request.state_dir(prepared)}"
        said = f"{said_on_stop(stops)}; `{cancel}` tries again, or {resume}"
    else:
        again = " (it sends them again)" if any(stop.cancelled for stop in stops) else ""
        said = f"{said_on_stop(stops)}; {resume}{again}"
    return Text.assemble((f"{how}:", "yellow"), " ", said)


def stopped_with_nothing_in_flight(state_dir: Path, output: Path, since: float) -> str:
    """What a run stopped with no runner's word on its stop leaves, from its state table and output: said
    as found (rows in flight among it, when a second Ctrl-C cut the cancel short before a runner spoke).
    It was "stopped before sending anything" whatever happened, also from a run whose 60 rows had all
    completed and whose output was never written (it waited on a Prefect server that did not answer)."""
    from rowrelay.tasks.records import IN_FLIGHT
    from rowrelay.tasks.state import load

    resume = "run the same command to resume"
    try:
        frame = load(state_dir)
    except (UsageError, StateError, OSError):  # no table yet (stopped before the plan), or unreadable
        return f"stopped before sending anything; {resume}"
    if frame.empty or (frame["status"].eq("pending") & frame["attempts"].eq(0)).all():
        return f"stopped before sending anything; {resume}"
    counts = frame["status"].value_counts()
    rows = ", ".join(f"{int(count):,} {status}" for status, count in counts.items())
    if in_flight := int(frame["status"].isin(IN_FLIGHT).sum()):
        # The run's cancel cut short (Ctrl-C pressed again as it cancelled) before its runner said what
        # it did, or rows an earlier run left: this said "stopped with no row in flight (56 in_progress)".
        return (
            f"stopped with {in_flight:,} rows in flight ({rows}), not cancelled: their responses may still "
            f"run, and be paid for; `rowrelay cancel {state_dir}` cancels those holding a response id, or "
            f"{resume}"
        )
    try:
        written = output.stat().st_mtime >= since
    except OSError:
        written = False
    if written:
        return f"stopped with no row in flight ({rows}), after writing {output}; {resume}"
    return (
        f"stopped with no row in flight ({rows}) before writing the output; {resume}: it writes {output} "
        "and sends only the rows not completed"
    )


def _precheck(request: BatchRequest) -> PreparedInput:
    """Check the input, where state and output go, the batch's lease, the agent and the cluster (waiting
    for its first worker) before Prefect starts and before any request is spent (exit 2 if one is wrong);
    the run then reuses this reading of the input instead of reading it again."""
    from rowrelay.flows.precheck import check_run

    try:
        return check_run(request)
    # Ctrl-C while a big input is read or a cluster's first worker waited for: said, not a silent exit 130
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/] while checking the run, before anything started: nothing was sent")
        raise typer.Exit(130) from None
    except LeaseHeldError as exc:
        fail(str(exc))  # its words carry the way on (`lease.held_error`), as raised to Python
    except UsageError as exc:
        fail(str(exc))
    except StateError as exc:  # a state file or folder this user may not read, say: it ended in a traceback
        fail(str(exc))
