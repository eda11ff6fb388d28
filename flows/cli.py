"""The `rowrelay` command line: run (and resume) a batch, inspect, cancel, retry, export, repair, serve.

Exit codes: 0 every row completed; 1 some rows did not (failed, incomplete, cancelled, expired, held
orphans); 2 a usage, input or state error (nothing was sent), said in one line (`cli_errors.fail`).

Building this app imports typer, rich and small modules of ours only: each command imports its work when
it runs (Prefect, the SDK and pandas for `run`), and `run` and `deploy` are built only when asked for
(`_DeferredGroup`), so `rowrelay --help`, `status` and `export` start in under a second.
tests/flows/test_cli_imports.py pins what each command imports.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.core import TyperGroup

from rowrelay.flows import repair_command, state_commands
from rowrelay.flows.cli_errors import fail, state_problem, told_once
from rowrelay.tasks.console_filter import CONSOLE_LEVEL
from rowrelay.tasks.emulator.cli import emulator
from rowrelay.tasks.errors import LeaseHeldError, StateError, UsageError

if TYPE_CHECKING:
    from rowrelay.flows.request import BatchRequest
    from rowrelay.tasks.dataset import PreparedInput
    from rowrelay.tasks.run.cancel import Cancelled

_DEFERRED: dict[str, Callable[[], typer.Typer]] = {}
"""Commands built (and their modules imported) only when asked for, each from its own app."""


class _DeferredGroup(TyperGroup):
    """The `rowrelay` group, listing the deferred commands after the others and building one only when
    it is run or help is shown: `run`'s and `deploy`'s options take their help from the settings' model
    (`_about`), whose import and build (pydantic-settings) cost 0.1-0.2 s that `status` and `export` need
    not pay."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *_DEFERRED]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        deferred = _DEFERRED.get(cmd_name)
        return super().get_command(ctx, cmd_name) if deferred is None else typer.main.get_command(deferred())


def _deferred(name: str) -> typer.Typer:
    """A one-command app for the deferred command `name` (decorate the command with its `.command()`)."""
    command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    _DEFERRED[name] = lambda: command
    return command


def _services() -> typer.Typer:
    # Process records and the local Prefect server's settings: nothing status and export need.
    from rowrelay.flows import services

    return services.app


_DEFERRED["services"] = _services


app = typer.Typer(
    cls=_DeferredGroup,
    name="rowrelay",
    help="Run long background LLM requests over every row of a dataset: checkpointed and resumable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("emulator")(emulator)
app.command("status")(state_commands.status)
app.command("cancel")(state_commands.cancel)
app.command("retry")(state_commands.retry)
app.command("export")(state_commands.export)
app.command("repair")(repair_command.repair)
err = Console(stderr=True)

Opt = typer.Option


def _said_default(default: object) -> str | None:
    """`500`, `2,000,000`, `3,600`, `poll`; None for no default worth saying (None, a flag)."""
    if isinstance(default, bool) or default is None:
        return None
    if isinstance(default, float):
        return f"{default:,g}"
    if isinstance(default, int):
        return f"{default:,}"
    return default if isinstance(default, str) else None


def _about(field: str) -> str:
    """An option's help is its setting's description: one text for the CLI, Python and the env var.

    Called when typer reads `run`'s annotations (strings here, by `from __future__ import annotations`),
    so when `run` is built, not when this module is imported."""
    from rowrelay.tasks.settings import Settings

    setting = Settings.model_fields[field]
    # The option's own default is None (the setting decides), so typer cannot show it: say it here.
    default = _said_default(setting.default)
    shown = "" if default is None else f"default {default}; "
    # typer reads help as rich markup: `rowrelay[agents]` would lose its `[agents]` as a style
    return escape(f"{setting.description or ''} ({shown}env ROWRELAY_{field.upper()})")


@app.callback()
def main(
    verbose: Annotated[bool, Opt("--verbose", "-v", help="Show Prefect's and rowrelay's info logs.")] = False,
) -> None:
    """rowrelay: background LLM requests over every row of a dataset, checkpointed and resumable."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    os.environ[CONSOLE_LEVEL] = logging.getLevelName(level)  # for the Dask workers it starts (steps.py)
    # The console filters by its handler's level, not the loggers': Prefect's and rowrelay's INFO records
    # must still be made, for the flow run's logs on the Prefect server (flows/run_logs.py).
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
        if not verbose:  # the run's story (narration.RUN_LOG_ONLY) is the progress bar's and summary's job
            handler.addFilter(lambda record: not getattr(record, "rowrelay_run_log_only", False))
            handler.addFilter(_not_an_exit_drain_notice)


def _not_an_exit_drain_notice(record: logging.LogRecord) -> bool:
    """False for Prefect's "Still processing items: N items remaining..." (a WARNING its event and log
    workers give while they send what is left at exit): it came after the command's own last line, the
    verdict a script reads (`error: ...` or the summary), on a loaded machine. The items still reach the
    Prefect server; the notice only says the exit is waiting for them."""
    return not (
        record.levelno == logging.WARNING
        and record.module == "services"  # prefect/_internal/concurrency/services.py
        and record.getMessage().startswith("Still processing items")
    )


_ENDPOINTS = (
    "A TOML or JSON file listing several endpoints (API keys, base URLs, Azure deployments), each with a "
    "name and its own limits: rows are spread across them by rpm, each with its own budget. Keys stay in "
    "environment variables the entries name (api_key_env)."
)
_FAIL_WHEN_FAILED = (
    "End the Prefect flow run Failed (so Prefect's notifications fire) when more rows than this did not "
    "complete: a count N, or a share P% of the rows. Otherwise it ends Completed, with the counts."
)
_DASK = (
    "Run the shards on the Dask cluster at this scheduler address, under one rate budget "
    "(needs the dask extra)."
)
_LIMIT = (
    "Send at most N rows in this run, the first in input order: a trial whose results the whole batch "
    "keeps (the same command without --limit sends the rest, never these again)."
)
_DEPLOY_LIMIT = (
    "Each scheduled run sends at most N rows, the next in input order: a large input drips through, "
    "run by run, and no row is ever sent twice."
)
_DASK_WORKERS = "Run the shards on a local Dask cluster of this many worker processes, under one rate budget."


@_deferred("run").command()
def run(
    input: Annotated[
        Path, typer.Argument(help="CSV (or ; tab | separated), Parquet or JSONL: one request per row.")
    ],
    template: Annotated[
        str | None, Opt(help="Prompt template over the columns, e.g. 'Triage: {body}'.")
    ] = None,
    prompt_column: Annotated[str | None, Opt(help="Column holding each row's whole prompt.")] = None,
    instructions: Annotated[str | None, Opt(help="Instructions (system prompt) sent with every row.")] = None,
    model: Annotated[str | None, Opt(help=_about("model"))] = None,
    id_column: Annotated[str | None, Opt(help="Column of unique row ids (else a hash of each row).")] = None,
    state: Annotated[Path | None, Opt(help="Batch state directory; the same one resumes.")] = None,
    output: Annotated[Path | None, Opt(help="Output file (.parquet, .csv, .tsv or .jsonl).")] = None,
    mode: Annotated[str | None, Opt(help=_about("mode"))] = None,
    rpm: Annotated[int | None, Opt(help=_about("rpm"))] = None,
    tpm: Annotated[int | None, Opt(help=_about("tpm"))] = None,
    max_in_flight: Annotated[int | None, Opt(help=_about("max_in_flight"))] = None,
    max_attempts: Annotated[int | None, Opt(help=_about("max_attempts"))] = None,
    base_url: Annotated[str | None, Opt(help=_about("base_url"))] = None,
    backend: Annotated[str | None, Opt(help=_about("backend"))] = None,
    agent: Annotated[
        str | None, Opt(help="Agent Framework agent factory module:function (OpenAIChatClient -> Agent).")
    ] = None,
    schema: Annotated[str | None, Opt("--schema", help=_about("output_schema"))] = None,
    max_cost: Annotated[float | None, Opt(help=_about("max_cost"))] = None,
    service_tier: Annotated[str | None, Opt(help=_about("service_tier"))] = None,
    prices: Annotated[Path | None, Opt(help=_about("prices"))] = None,
    fail_when_failed: Annotated[str | None, Opt(help=_FAIL_WHEN_FAILED)] = None,
    endpoints: Annotated[Path | None, Opt(help=_ENDPOINTS)] = None,
    dask: Annotated[str | None, Opt(help=_DASK)] = None,
    dask_workers: Annotated[int | None, Opt(help=_DASK_WORKERS)] = None,
    limit: Annotated[int | None, Opt(help=_LIMIT)] = None,
    give_up_after: Annotated[float | None, Opt(help=_about("give_up_after"))] = None,
) -> None:
    """Run a batch, or resume it: the same command again picks up where it stopped."""
    request = _request(
        input, template=template, prompt_column=prompt_column, id_column=id_column,
        instructions=instructions, state=state, output=output, agent=agent, model=model, mode=mode,
        rpm=rpm, tpm=tpm, max_in_flight=max_in_flight, max_attempts=max_attempts, backend=backend,
        base_url=base_url, output_schema=schema, max_cost=max_cost, service_tier=service_tier,
        prices=None if prices is None else str(prices), fail_when_failed=fail_when_failed,
        endpoints=None if endpoints is None else str(endpoints),
        dask=dask, dask_workers=dask_workers, limit=limit, give_up_after=give_up_after,
    )  # fmt: skip
    prepared = _precheck(request)
    _run_flow(request, prepared)


def _request(input: Path, **options: Any) -> BatchRequest:
    """The run's one validated request; a bad option exits 2 before anything starts."""
    from rowrelay.flows.request import BatchRequest

    try:
        return BatchRequest.build(input, **options)
    except UsageError as exc:
        fail(str(exc))


def _run_flow(request: BatchRequest, prepared: PreparedInput) -> NoReturn:
    """Run the batch flow with a progress bar; exit with the batch's code (0 all completed, 1 not)."""
    import uvloop  # the run's loop: its callbacks cost 5-8% less CPU than asyncio's (README, tier 5)

    from rowrelay.flows import console_progress
    from rowrelay.flows.backends import needs_embedded_emulator
    from rowrelay.flows.embedded import start_emulator_early
    from rowrelay.flows.local_prefect import PrefectTracking
    from rowrelay.flows.prefect_api import engine_refusal

    tracking = PrefectTracking.begin(request.settings)  # a server it starts warms up during the import
    if not request.endpoints and needs_embedded_emulator(request.settings):  # as `resolve_targets` decides
        try:
            tracking.check_reachable()  # else `applied` refuses the run: no emulator started for it
        except UsageError as exc:
            fail(str(exc))
        start_emulator_early(request.settings.home, request.settings.emulator_args)
    from prefect.exceptions import TerminationSignal

    from rowrelay.flows.batch import prepared_input, run_batch  # Prefect's import costs a second
    from rowrelay.flows.run_labels import tags_for
    from rowrelay.flows.termination import SwallowedStop, terminated_as_raised
    from rowrelay.tasks.errors import BankUnreachableError, OutageError
    from rowrelay.tasks.llm import BackendRefusedError
    from rowrelay.tasks.run.cancel import stops_seen
    from rowrelay.tasks.steps import RUN_STOPPERS

    swallowed = SwallowedStop(TerminationSignal)
    stops: list[Cancelled] = []

    async def go() -> object:
        swallowed.guard()
        stops_seen.set(stops)  # this run's own context: gone with it
        batch_tags = tags_for(request.state_dir(prepared).name, request.settings)
        with console_progress.bar(err) as sink, prepared_input(request, prepared), batch_tags:
            token = console_progress.install(sink)
            try:
                # The state, not the result: a run past --fail-when-failed ends Failed yet has a result.
                state = await run_batch(**request.parameters(), return_state=True)
                result = await state.aresult(raise_on_failure=False)
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
    except BackendRefusedError as exc:
        # Not the rows' fault (a key, a model, an account out of credit): the user's to fix, so exit 2, in
        # one line; Prefect's run log keeps the details. Creates on the wire were counted on their rows.
        # The server's message may end in a full stop: not before our semicolon.
        said = str(exc).rstrip(". ")
        fail(f"the backend refused this batch, so the run stopped: {said}; fix that, then run it again")
    except BankUnreachableError as exc:
        fail(f"{exc}, so the run stopped; rows keep their state, and the same command resumes them", code=1)
    except OutageError as exc:
        fail(str(exc), code=1)  # rows did not complete; nothing to fix but the server, or its address
    except RuntimeError as exc:
        refused = engine_refusal(exc, configured=tracking.probe is not None)
        if refused is None:
            raise
        fail(refused)
    except KeyboardInterrupt:
        err.print(_stopped("interrupted", request, prepared, stops), soft_wrap=True)
        raise typer.Exit(130) from None
    except TerminationSignal as exc:
        # SIGTERM (a supervisor, `kill`, `timeout`): Prefect's handler turns it into this exception, and
        # the run unwinds as for Ctrl-C. Exit as a process ended by that signal would.
        err.print(_stopped("terminated", request, prepared, stops), soft_wrap=True)
        raise typer.Exit(128 + exc.signal) from None
    raise typer.Exit(console_progress.closing_summary(err, result))


def _stopped(how: str, request: BatchRequest, prepared: PreparedInput, stops: list[Cancelled]) -> Text:
    """`interrupted: 10 in-flight responses were cancelled; ...`: what a stopped run did to its work on the
    server, from what its runners said as they stopped (`run.cancel.stops_seen`), and how to go on. Text,
    not markup: a server's message may hold brackets."""
    from rowrelay.tasks.run.cancel import said_on_stop

    resume = "run the same command to resume"
    if request.dask or request.dask_workers:  # runners on the workers: their logs say what they did
        said = f"in-flight responses were cancelled; {resume}"
    elif not stops:  # stopped before any row's turn (Prefect's start, the plan): this run sent nothing
        said = f"stopped before sending anything; {resume}"
    elif any(stop.unreached for stop in stops):
        cancel = f"rowrelay cancel {request.state_dir(prepared)}"
        said = f"{said_on_stop(stops)}; `{cancel}` tries again, or {resume}"
    else:
        said = f"{said_on_stop(stops)}; {resume}"
    return Text.assemble((f"{how}:", "yellow"), " ", said)


def _precheck(request: BatchRequest) -> PreparedInput:
    """Check the input, where state and output go, the batch's lease and the agent before Prefect starts
    and before any request is spent (exit 2 if one is wrong); the run then reuses this reading of the
    input instead of reading it again."""
    from rowrelay.flows.precheck import check_run

    try:
        return check_run(request)
    except KeyboardInterrupt:  # Ctrl-C while a big input is read: said, not a silent exit 130
        err.print(
            "[yellow]interrupted[/] while checking the input, before anything started: nothing was sent"
        )
        raise typer.Exit(130) from None
    except LeaseHeldError as exc:
        fail(f"{exc}; wait for that run to end (or stop it), then run the same command to resume")
    except UsageError as exc:
        fail(str(exc))


@_deferred("deploy").command()
def deploy(
    input: Annotated[Path, typer.Argument(help="Input file the scheduled job reads each time.")],
    cron: Annotated[str, Opt(help="Cron schedule, e.g. '0 2 * * *' (nightly at 02:00).")],
    name: Annotated[str, Opt(help="Deployment name.")] = "rowrelay-nightly",
    template: Annotated[str | None, Opt(help="Prompt template.")] = None,
    prompt_column: Annotated[str | None, Opt(help="Prompt column.")] = None,
    id_column: Annotated[str | None, Opt(help="Id column.")] = None,
    state: Annotated[
        Path | None, Opt(help="State directory reused by every scheduled run (default: <state dir>/NAME).")
    ] = None,
    output: Annotated[Path | None, Opt(help="Output file.")] = None,
    model: Annotated[str | None, Opt(help="Model.")] = None,
    schema: Annotated[
        str | None, Opt("--schema", help="Structured outputs: FILE.json or module:Model.")
    ] = None,
    fail_when_failed: Annotated[str | None, Opt(help=_FAIL_WHEN_FAILED)] = None,
    endpoints: Annotated[Path | None, Opt(help=_ENDPOINTS)] = None,
    dask: Annotated[str | None, Opt(help=_DASK)] = None,
    dask_workers: Annotated[int | None, Opt(help=_DASK_WORKERS)] = None,
    limit: Annotated[int | None, Opt(help=_DEPLOY_LIMIT)] = None,
) -> None:
    """Serve the batch flow as a Prefect deployment on a cron schedule (runs until stopped)."""
    request = _request(
        input.resolve(), template=template, prompt_column=prompt_column, id_column=id_column, model=model,
        output=None if output is None else output.resolve(), fail_when_failed=fail_when_failed,
        output_schema=None if schema is None or ":" in schema else str(Path(schema).resolve()),
        endpoints=None if endpoints is None else str(endpoints.resolve()),
        dask=dask, dask_workers=dask_workers, limit=limit,
    )  # fmt: skip
    # An explicit state directory, so every scheduled run (and a cancellation hook run by Prefect's
    # runner process) finds the same batch.
    state = (state or request.settings.state_dir / name).resolve()
    from rowrelay.flows.deploy import cron_problem, serve_deployment

    if (problem := cron_problem(cron)) is not None:
        fail(f"--cron: {problem}")
    _check_deployment(request, state)
    from rowrelay.flows.local_prefect import PrefectTracking
    from rowrelay.flows.run_labels import tags_of

    # With no API configured, the local Prefect server `run` uses (started once, reused): Prefect's
    # ephemeral one has no scheduler, so the cron never fired and the command served for ever in vain.
    tracking = PrefectTracking.begin(request.settings)
    try:
        with tracking.applied(err.out):
            serve_deployment(
                name=name, cron=cron, parameters={**request.parameters(), "state": str(state)},
                tags=tags_of(state.name, request.settings),
            )  # fmt: skip
    except UsageError as exc:
        fail(str(exc))


def _check_deployment(request: BatchRequest, state: Path) -> None:
    """What a scheduled run would refuse, refused now: its input, state directory, output, the server and
    requests of the state's last run, rows whose input changed since it planned them (another template,
    say), endpoints and cluster."""
    from rowrelay.flows import cluster
    from rowrelay.flows.precheck import (
        check_destinations,
        check_keys,
        check_state_readable,
        check_state_rows,
        read_checked,
    )
    from rowrelay.flows.same_server import check_same_requests, check_same_server

    try:
        prepared = read_checked(request)
        check_destinations(request, state)
        check_state_readable(state)
        check_same_server(request, state, prepared.keys)
        check_same_requests(request, state, prepared.keys)
        check_state_rows(request, state, prepared)
        check_keys(request)
        cluster.precheck(request.dask, request.dask_workers)
    except UsageError as exc:
        fail(str(exc))
    except StateError as exc:
        fail(state_problem(exc, state))


if __name__ == "__main__":
    app()
