"""`rowrelay deploy`: check now what a scheduled run would refuse, then serve the batch flow as a Prefect
deployment on a cron schedule."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rowrelay.flows import run_options as options
from rowrelay.flows.cli_errors import fail, state_problem
from rowrelay.flows.cli_options import DEPLOY_LIMIT, Opt, err, request_of
from rowrelay.flows.deploy_checks import FIVE_FIELDS, cron_problem, name_problem
from rowrelay.flows.time_zones import EXAMPLES, MachineZone, machine_zone, zone_problem
from rowrelay.tasks.errors import StateError, UsageError

if TYPE_CHECKING:
    from rowrelay.flows.request import BatchRequest

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
"""The one-command app `rowrelay` builds when `deploy` is asked for (`cli._DeferredGroup`)."""

_HERE = machine_zone()
"""This machine's time zone, the default of `--timezone` (its help says it)."""
_TIMEZONE_HELP = (
    f"IANA time zone the cron is read in ({EXAMPLES}); default: this machine's, {_HERE.name} here "
    f"({_HERE.found}), else UTC. Prefect reads a cron given no zone in UTC, not local time as cron does."
)


@app.command()
def deploy(
    input: Annotated[Path, typer.Argument(help="Input file the scheduled job reads each time.")],
    cron: Annotated[str, Opt(help=f"Cron schedule: {FIVE_FIELDS}; read in --timezone.")],
    name: Annotated[
        str, Opt(help="Deployment name, and the default state directory's (no / % & < >).")
    ] = "rowrelay-nightly",
    timezone: Annotated[str | None, Opt(help=_TIMEZONE_HELP, show_default=False)] = None,
    template: options.Template = None,
    prompt_column: options.PromptColumn = None,
    id_column: options.IdColumn = None,
    state: Annotated[
        Path | None, Opt(help="State directory reused by every scheduled run (default: <state dir>/NAME).")
    ] = None,
    output: options.Output = None,
    instructions: options.Instructions = None,
    image_column: options.ImageColumn = None,
    image_detail: options.ImageDetail = None,
    logprobs: options.Logprobs = None,
    file_column: options.FileColumn = None,
    model: options.Model = None,
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
    give_up_after: options.GiveUpAfter = None,
    limit: Annotated[int | None, Opt(help=DEPLOY_LIMIT)] = None,
    resend_edited: options.ResendEdited = False,
) -> None:
    """Serve the batch flow as a Prefect deployment on a cron schedule (runs until stopped)."""
    if (problem := name_problem(name)) is not None:
        fail(f"--name: {problem}")
    if (problem := cron_problem(cron)) is not None:
        fail(f"--cron: {problem}")
    if timezone is not None and (problem := zone_problem(timezone)) is not None:
        fail(f"--timezone: {problem}")
    zone = timezone or _HERE.name
    # Paths resolved: each scheduled run starts in a directory of Prefect's choosing.
    request = request_of(
        input.resolve(), template=template, prompt_column=prompt_column, id_column=id_column,
        state=None if state is None else state.resolve(),
        image_column=image_column, image_detail=image_detail, file_column=file_column,
        instructions=instructions, model=model, output=None if output is None else output.resolve(),
        mode=mode, rpm=rpm, tpm=tpm, poll_rpm=poll_rpm, max_in_flight=max_in_flight,
        max_attempts=max_attempts, max_output_tokens=max_output_tokens,
        reasoning_effort=reasoning_effort, temperature=temperature,
        reasoning_summary=reasoning_summary, tools=tools, max_tool_calls=max_tool_calls, backend=backend,
        logprobs=logprobs,
        base_url=base_url,
        agent=agent, max_cost=max_cost,
        service_tier=service_tier, prices=None if prices is None else str(prices.resolve()),
        fail_when_failed=fail_when_failed,
        output_schema=None if schema is None or ":" in schema else str(Path(schema).resolve()),
        endpoints=None if endpoints is None else str(endpoints.resolve()), dask=dask,
        dask_workers=dask_workers, limit=limit, give_up_after=give_up_after, resend_edited=resend_edited,
    )  # fmt: skip
    # An explicit state directory, so every scheduled run (and a cancellation hook run by Prefect's
    # runner process) finds the same batch. Given, it is the request's, so a refusal of it names --state
    # as the user's choice (it called a given one "the default").
    state = request.state or (request.settings.state_dir / name).resolve()
    _check_deployment(request, state)
    from rowrelay.flows.deploy import serve_deployment
    from rowrelay.flows.local_prefect import PrefectTracking
    from rowrelay.flows.run_labels import tags_of
    from rowrelay.flows.schedule_change import drop_runs_of_a_changed_schedule
    from rowrelay.flows.scheduled import scheduled_batch
    from rowrelay.flows.service_users import announced, services_a_deployment_uses
    from rowrelay.flows.serving import served_twice, serving

    # Announced before the server is looked up, and for as long as this serves: `rowrelay services stop`
    # is refused meanwhile, as under a run (flows/service_users.py).
    with announced(request.settings.home.expanduser(), services_a_deployment_uses(request)):
        # With no API configured, the local Prefect server `run` uses (started once, reused): Prefect's
        # ephemeral one has no scheduler, so the cron never fired and the command served for ever in vain.
        tracking = PrefectTracking.begin(request.settings)
        try:
            with tracking.applied(err.out), serving(request.settings.home.expanduser(), name) as other:
                if other is not None:
                    err.out(served_twice(name, other))
                dropped = drop_runs_of_a_changed_schedule(scheduled_batch.name, name, cron, timezone=zone)
                if dropped is not None:
                    err.out(dropped)
                err.out(_schedule_said(name, cron, zone, None if timezone else _HERE))
                local = tracking.record  # the local Prefect server, when this serves on it
                if local is not None:
                    err.out(_run_now_said(f"{scheduled_batch.name}/{name}", local.url))
                serve_deployment(
                    name=name, cron=cron, timezone=zone,
                    parameters={**request.parameters(), "state": str(state)},
                    tags=tags_of(state.name, request), say=err.out, prefects_hint=local is None,
                )  # fmt: skip
        except UsageError as exc:
            fail(str(exc))


def _run_now_said(deployment: str, api: str) -> str:
    """How to start a run now on the local Prefect server: Prefect's own hint (`prefect deployment run
    'rowrelay-batch/NAME'`) gave no address, and in a plain shell found no such deployment."""
    from rowrelay.flows.services import UNTOLD_PREFECT_CLI

    quoted = "'" + deployment.replace("'", "'\\''") + "'"  # pasted into a shell: a name may hold a '
    command = f"PREFECT_API_URL={api} prefect deployment run {quoted}"
    return f"to start a run now: {command} ({UNTOLD_PREFECT_CLI})"


def _schedule_said(name: str, cron: str, zone: str, machine: MachineZone | None) -> str:
    """`deployment 'nightly' runs on '0 2 * * *' in America/New_York (this machine's time zone, from TZ;
    --timezone names another): next run ...`: a cron's hours mean nothing without the zone they are
    read in. `machine`: the zone was not asked for, but taken from this machine."""
    from datetime import UTC, datetime

    from rowrelay.flows.deploy import next_run_said

    if machine is None:
        why = "--timezone"
    elif machine.known:
        why = f"this machine's time zone, {machine.found}; --timezone names another"
    else:
        why = f"{machine.found}; --timezone names one"
    following = next_run_said(cron, zone, datetime.now(UTC))
    return f"deployment {name!r} runs on {cron!r} in {zone} ({why}): {following}"


def _check_deployment(request: BatchRequest, state: Path) -> None:
    """What a scheduled run would refuse, refused now: its input, state directory, output, the server and
    requests of the state's last run, rows whose input changed since it planned them (another template,
    say), endpoints and cluster."""
    from rowrelay.flows import cluster
    from rowrelay.flows.precheck import (
        check_destinations,
        check_state_readable,
        check_state_rows,
        read_checked,
    )
    from rowrelay.flows.same_server import check_same_requests, check_same_server
    from rowrelay.flows.server_access import check_keys

    try:
        prepared = read_checked(request)
        check_destinations(request, state)
        check_state_readable(state)
        check_same_server(request, state, prepared.keys)
        check_same_requests(request, state, prepared.keys)
        check_state_rows(request, state, prepared)
        check_keys(request)
        cluster.precheck(request.dask, request.dask_workers, request.settings.dask_no_workers_after)
    except UsageError as exc:
        fail(str(exc))
    except StateError as exc:
        fail(state_problem(exc, state))
