"""`rowrelay run`: check the input and options before anything starts, then run the batch flow with a
progress bar and exit with the batch's code (0 all completed, 1 not, 2 the user's to fix)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.text import Text

from rowrelay.flows import run_options as options
from rowrelay.flows.cli_errors import fail, state_problem, told_once
from rowrelay.flows.cli_options import LIMIT, Opt, err, request_of
from rowrelay.flows.start_ctrl_c import INTERRUPTED_AT_START, ctrl_c_held, let_go_ctrl_c
from rowrelay.flows.stopped_line import stopped
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
    from rowrelay.tasks.run.stops import Cancelled

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
    with _interrupted_at_start():  # its imports (pydantic-settings, the request's): typer's silent 130
        let_go_ctrl_c()  # held since the entry point (flows/start_ctrl_c.py): one that came is raised here
        request = request_of(
            input, template=template, prompt_column=prompt_column, id_column=id_column,
            image_column=image_column, image_detail=image_detail, file_column=file_column,
            instructions=instructions,
            state=state, output=output, agent=agent, model=model, mode=mode, rpm=rpm, tpm=tpm,
            poll_rpm=poll_rpm,
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
    with _interrupted_at_start():
        from rowrelay.flows.service_users import announced, services_a_run_uses

    # Before the services are looked up: `rowrelay services stop` in the run's first seconds is refused.
    with announced(request.settings.home.expanduser(), services_a_run_uses(request)):
        _run_flow(request, prepared)


def _run_flow(request: BatchRequest, prepared: PreparedInput) -> NoReturn:
    """Run the batch flow with a progress bar; exit with the batch's code (0 all completed, 1 not)."""
    began = time.time()  # an output written since is this run's (`stopped_as_found`)
    stops: list[Cancelled] = []
    try:  # a Ctrl-C before the flow's loop runs: said from the state table, as one in the flow's start
        # Prefect's import (about a second) holds one: cut by it, a pydantic serializer it runs said
        # `PydanticSerializationError: ... KeyboardInterrupt` in a 100-line traceback, exit 1.
        with ctrl_c_held():
            from rowrelay.flows import console_progress
            from rowrelay.flows.backends import needs_embedded_emulator
            from rowrelay.flows.closing_summary import closing_summary
            from rowrelay.flows.embedded import start_emulator_early
            from rowrelay.flows.local_prefect import PrefectTracking
            from rowrelay.flows.prefect_api import engine_refusal

            tracking = PrefectTracking.begin(request.settings)  # a server it starts warms up meanwhile
        if not request.endpoints and needs_embedded_emulator(request.settings):  # as `resolve_targets`
            try:
                tracking.check_reachable()  # else `applied` refuses the run: no emulator started for it
            except UsageError as exc:
                fail(str(exc))
            start_emulator_early(request.settings.home, request.settings.emulator_args)
        with ctrl_c_held():
            from prefect.exceptions import TerminationSignal

            from rowrelay.flows.batch import run_batch  # Prefect's import costs a second
            from rowrelay.flows.handed_input import prepared_input
            from rowrelay.flows.run_labels import tags_for
            from rowrelay.flows.run_loop import run_loop
            from rowrelay.flows.termination import SwallowedStop, terminated_as_raised
            from rowrelay.tasks.errors import (
                BankUnreachableError,
                FailWhenFailedError,
                OutageError,
                WorkersGoneError,
            )
            from rowrelay.tasks.llm import BackendRefusedError, NotTheApiError
            from rowrelay.tasks.run.stops import stops_seen
            from rowrelay.tasks.steps import RUN_STOPPERS
    except KeyboardInterrupt:
        _say_stopped("interrupted", request, prepared, stops, began)
        raise typer.Exit(130) from None

    swallowed = SwallowedStop(TerminationSignal)

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
                result = run_loop(go())  # uvloop's, a third Ctrl-C said, not raised
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
        _say_stopped("interrupted", request, prepared, stops, began)
        raise typer.Exit(130) from None
    except TerminationSignal as exc:
        # SIGTERM (a supervisor, `kill`, `timeout`): Prefect's handler turns it into this exception, and
        # the run unwinds as for Ctrl-C. Exit as a process ended by that signal would.
        _say_stopped("terminated", request, prepared, stops, began)
        raise typer.Exit(128 + exc.signal) from None
    raise typer.Exit(closing_summary(err, result))


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


def _say_stopped(
    how: str, request: BatchRequest, prepared: PreparedInput, stops: list[Cancelled], since: float
) -> None:
    """The closing line of a stopped run. Made with Ctrl-C held: it may read the state table (pandas'
    import, a second), and one more Ctrl-C then cut it short, exit 130 and nothing said."""
    with ctrl_c_held(then_raise=False):
        err.print(stopped(how, request, prepared, stops, since), soft_wrap=True)


def _precheck(request: BatchRequest) -> PreparedInput:
    """Check the input, where state and output go, the batch's lease, the agent and the cluster (waiting
    for its first worker) before Prefect starts and before any request is spent (exit 2 if one is wrong);
    the run then reuses this reading of the input instead of reading it again."""
    # Ctrl-C while a big input is read or a cluster's first worker waited for: said, not a silent exit 130
    with _interrupted_at_start():
        from rowrelay.flows.precheck import check_run

    try:
        with _interrupted_at_start():
            return check_run(request)
    except LeaseHeldError as exc:
        fail(str(exc))  # its words carry the way on (`lease.held_error`), as raised to Python
    except UsageError as exc:
        fail(str(exc))
    except StateError as exc:  # a state file or folder this user may not read, say: it ended in a traceback
        fail(str(exc))


@contextlib.contextmanager
def _interrupted_at_start() -> Iterator[None]:
    """Ctrl-C in the block (before the batch's flow begins): `INTERRUPTED_AT_START`, exit 130. Left to
    typer, a `KeyboardInterrupt` in a command is a silent exit 130 (flows/start_ctrl_c.py)."""
    try:
        yield
    except KeyboardInterrupt:
        err.print(Text.assemble(("interrupted", "yellow"), INTERRUPTED_AT_START.removeprefix("interrupted")))
        raise typer.Exit(130) from None
