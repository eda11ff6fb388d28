"""`rowrelay emulator` / `python -m rowrelay.tasks.emulator`: serve the Responses API emulator.

Its options are declared as the main CLI's are, so `--help` reads the same outside a terminal (80 columns):
a flag has one name (no `--x/--no-x` pair, whose second name took a column of its own) and no range is
shown beside a type (the port's is checked in the body). With both, the descriptions were squeezed into
a column of 17 characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from typer._click.exceptions import ClickException  # typer's own click, as flows/entry.py takes it

from rowrelay.tasks.emulator.config import EmulatorConfig, LatencySpec

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
"""uvicorn's log levels (`uvicorn.config.LOG_LEVELS`), named here: its import waits until serving."""


def _latency(text: str) -> LatencySpec:
    try:
        return LatencySpec.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _token_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split(","))
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: expected A,B (two integers)") from exc
    return low, high


def emulator(
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback unless you say otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 to 65535); 0 picks a free one.")] = 0,
    seed: Annotated[int, typer.Option(help="Seeds text, token counts, latencies and faults.")] = 0,
    latency: Annotated[
        str,
        typer.Option(help="Work time per response: fixed:S | uniform:A,B | lognormal:MEDIAN,SIGMA."),
    ] = "fixed:0",
    output_tokens: Annotated[str, typer.Option(help="Range A,B of output tokens per answer.")] = "16,96",
    rpm: Annotated[int | None, typer.Option(help="Creates per minute (429 beyond).")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute on creates (429 beyond).")] = None,
    poll_rpm: Annotated[
        int | None, typer.Option(help="Retrieves, stream resumes and cancels per minute.")
    ] = None,
    rate_window: Annotated[
        float,
        typer.Option(
            help="Seconds of traffic a full rate bucket allows at once (60 = a minute's, the most)."
        ),
    ] = 60.0,
    create_delay: Annotated[
        float, typer.Option(help="Seconds a create takes to answer after its job has started.")
    ] = 0.0,
    cancel_delay: Annotated[
        float, typer.Option(help="Seconds a cancel takes to reach its response and answer.")
    ] = 0.0,
    cancels_later: Annotated[
        bool,
        typer.Option(
            "--cancels-later",
            help="Answer a cancel with the response as it stood, then cancel it (an asynchronous cancel).",
        ),
    ] = False,
    cancel_refusal: Annotated[
        int | None,
        typer.Option(help="Refuse every cancel with 400 (the API's words) or 405 (no cancel route)."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="Require `Authorization: Bearer KEY` (401 otherwise; Azure routes: or `api-key: KEY`).",
            envvar="ROWRELAY_EMULATOR_API_KEY",
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(help="Serve only these models, comma-separated (others: 404 model_not_found)."),
    ] = None,
    fail_rate: Annotated[
        float, typer.Option(help="Share of responses ending `failed` (server_error).")
    ] = 0.0,
    incomplete_rate: Annotated[
        float, typer.Option(help="Share ending `incomplete` (max_output_tokens).")
    ] = 0.0,
    content_filter_rate: Annotated[
        float, typer.Option(help="Share stopped by the content filter (incomplete: content_filter).")
    ] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Share of creates answered with HTTP 500.")] = 0.0,
    stuck_rate: Annotated[float, typer.Option(help="Share of background responses stuck in `queued`.")] = 0.0,
    gateway_error_rate: Annotated[
        float, typer.Option(help="Share of creates started but answered by a gateway's HTML 502/503/504.")
    ] = 0.0,
    down_for: Annotated[
        float,
        typer.Option(help="Seconds from the start during which a gateway answers every API request 502."),
    ] = 0.0,
    hang_rate: Annotated[
        float,
        typer.Option(help="Share of creates started but never answered (held until the client leaves)."),
    ] = 0.0,
    stream_cut_rate: Annotated[
        float,
        typer.Option(help="Share of stream creates started, then cut after the headers, before any event."),
    ] = 0.0,
    empty_stream_rate: Annotated[
        float, typer.Option(help="Share of stream creates started, then ended cleanly with no event.")
    ] = 0.0,
    skip_created_rate: Annotated[
        float, typer.Option(help="Share of stream creates whose stream leaves out `response.created`.")
    ] = 0.0,
    invalid_json_rate: Annotated[
        float,
        typer.Option(help="Share of json_schema answers that are not JSON or break the schema (half each)."),
    ] = 0.0,
    refusal_rate: Annotated[
        float, typer.Option(help="Share of answers that are a refusal (a `refusal` content part).")
    ] = 0.0,
    drop_stream_after: Annotated[int | None, typer.Option(help="Cut every stream after K events.")] = None,
    retention: Annotated[
        float | None, typer.Option(help="Seconds a response is held (404 afterwards).")
    ] = None,
    replicas: Annotated[
        int,
        typer.Option(help="Replicas behind a load balancer, each holding only the responses it made."),
    ] = 1,
    stream_window: Annotated[
        float, typer.Option(help="Seconds a background stream stays resumable.")
    ] = 300.0,
    store_policy: Annotated[
        str, typer.Option(help="legacy: background+store=false is refused; current: accepted.")
    ] = "legacy",
    error_shape: Annotated[str, typer.Option(help="SSE error event shape: nested | flat.")] = "nested",
    no_emit_queued: Annotated[
        bool,
        typer.Option("--no-emit-queued", help="Leave `response.queued` out of background streams."),
    ] = False,
    background_refusal: Annotated[
        str,
        typer.Option(help="Refuse background creates as vLLM without its store: none | param | unnamed."),
    ] = "none",
    ignore_background: Annotated[
        bool,
        typer.Option(
            "--ignore-background",
            help="Serve creates as if `background` were not asked for (some compatible servers).",
        ),
    ] = False,
    done_sentinel: Annotated[
        bool,
        typer.Option("--done-sentinel", help="End response streams with `data: [DONE]`."),
    ] = False,
    max_deltas: Annotated[int, typer.Option(help="At most this many text deltas per answer.")] = 16,
    cached_share: Annotated[
        float, typer.Option(help="Share of a prompt of 1,024+ tokens reported as cached (128-token steps).")
    ] = 0.5,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    check_only: Annotated[
        bool, typer.Option("--check-only", hidden=True, help="Check the options; serve nothing.")
    ] = False,
) -> None:
    """Serve a faithful local emulator of the OpenAI Responses API (background mode)."""
    if not 0 <= port <= 65535:  # here, not as the option's range: see the module's docstring
        bound = "greater than or equal to 0" if port < 0 else "less than or equal to 65535"
        raise typer.BadParameter(f"Input should be {bound}", param_hint="'--port'")  # as the range said
    if store_policy not in ("legacy", "current"):
        raise typer.BadParameter("expected legacy or current", param_hint="--store-policy")
    if error_shape not in ("nested", "flat"):
        raise typer.BadParameter("expected nested or flat", param_hint="--error-shape")
    if background_refusal not in ("none", "param", "unnamed"):
        raise typer.BadParameter("expected none, param or unnamed", param_hint="--background-refusal")
    if log_level not in _LOG_LEVELS:
        raise typer.BadParameter(f"expected one of {', '.join(_LOG_LEVELS)}", param_hint="--log-level")
    try:
        config = EmulatorConfig(
            seed=seed,
            latency=_latency(latency),
            output_tokens=_token_range(output_tokens),
            rpm=rpm,
            tpm=tpm,
            poll_rpm=poll_rpm,
            rate_window=rate_window,
            create_delay=create_delay,
            cancel_delay=cancel_delay,
            cancels_later=cancels_later,
            cancel_refusal=cancel_refusal,
            api_key=api_key,
            models=None if models is None else tuple(name.strip() for name in models.split(",")),
            fail_rate=fail_rate,
            incomplete_rate=incomplete_rate,
            content_filter_rate=content_filter_rate,
            error_rate=error_rate,
            stuck_rate=stuck_rate,
            gateway_error_rate=gateway_error_rate,
            down_for=down_for,
            hang_rate=hang_rate,
            stream_cut_rate=stream_cut_rate,
            empty_stream_rate=empty_stream_rate,
            skip_created_rate=skip_created_rate,
            invalid_json_rate=invalid_json_rate,
            refusal_rate=refusal_rate,
            drop_stream_after=drop_stream_after,
            retention=retention,
            replicas=replicas,
            stream_window=stream_window,
            store_policy=store_policy,  # type: ignore[arg-type]
            error_shape=error_shape,  # type: ignore[arg-type]
            emit_queued=not no_emit_queued,
            background_refusal=background_refusal,  # type: ignore[arg-type]
            ignores_background=ignore_background,
            done_sentinel=done_sentinel,
            max_deltas=max_deltas,
            cached_share=cached_share,
        )
    except ValueError as exc:
        # The config names the field first (`fail_rate must be ...`): said as the option the user typed.
        field, _, problem = str(exc).partition(" ")
        raise typer.BadParameter(problem, param_hint=f"--{field.replace('_', '-')}") from exc
    if check_only:
        return
    from rowrelay.tasks.emulator.server import CannotListen, serve  # uvicorn's import: only when serving

    try:
        serve(config, host, port, announce=lambda line: print(line, flush=True), log_level=log_level)
    except CannotListen as exc:
        raise typer.BadParameter(str(exc), param_hint="--host/--port") from exc


def main() -> None:
    typer.run(emulator)


def options_problem(args: Sequence[str]) -> str | None:
    """Why the emulator would refuse to start with `args`, in its own words, or None: parsed and checked
    as its command line does, nothing served (a run checks `ROWRELAY_EMULATOR_ARGS` before it starts)."""
    app = typer.Typer(add_completion=False)
    app.command()(emulator)
    try:
        typer.main.get_command(app).main([*args, "--check-only"], "emulator", standalone_mode=False)
    except ClickException as exc:
        return exc.format_message()
    return None
