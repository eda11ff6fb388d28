"""`POST /v1/responses`: refuse what OpenAI refuses, else start the job, then answer."""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response

from rowrelay.tasks.emulator import delivery, streaming
from rowrelay.tasks.emulator.admission import RateLimited
from rowrelay.tasks.emulator.content_parts import check_parts
from rowrelay.tasks.emulator.context import check_context
from rowrelay.tasks.emulator.faults import Faults
from rowrelay.tasks.emulator.hosted_tools import check_tools
from rowrelay.tasks.emulator.payloads import SERVER_ERROR_MESSAGE, response_object
from rowrelay.tasks.emulator.replies import error_response, json_response, model_not_found, rate_limited
from rowrelay.tasks.emulator.service import Emulator
from rowrelay.tasks.emulator.structured import json_format
from rowrelay.tasks.emulator.timeline import CREATED, Record
from rowrelay.tasks.emulator.validation import BadRequest, check_create, check_tool_outputs

NO_BACKGROUND = (
    "This vLLM engine does not support `store=True` and therefore does not support the background mode. "
    "To enable these features, set the environment variable `VLLM_ENABLE_RESPONSES_API_STORE=1` when "
    "launching the vLLM server."
)
"""vLLM's refusal of a background create when its response store is off (`background_refusal`)."""


async def create_response(request: Request, emu: Emulator) -> Response:
    try:
        body = orjson.loads(await request.body())
        check_create(body, emu.config.store_policy)
        check_tools(body)
        json_format(body, "responses")
        check_parts(body, "responses")
        check_context(body, "responses")  # last: the request is well-formed, only too long
        faults = Faults.parse(
            request.headers.get("x-emulator-fault"), request.headers.get("x-emulator-latency")
        )
    except BadRequest as exc:
        return error_response(400, exc.message, "invalid_request_error", param=exc.param, code=exc.code)
    except (orjson.JSONDecodeError, ValueError) as exc:
        return error_response(
            400, f"We could not parse the JSON body of your request: {exc}", "invalid_request_error"
        )
    if not emu.config.serves(body.get("model")):
        return model_not_found(body.get("model"))
    if body.get("background") is True and (refusal := emu.config.background_refusal) != "none":
        param = "background" if refusal == "param" else None
        return error_response(400, NO_BACKGROUND, "invalid_request_error", param=param)
    try:
        emu.admit_create(body, faults.rate_limited)
    except RateLimited as exc:
        return rate_limited(exc, body.get("model"))
    if emu.draw_http_error(body) or faults.http_error:
        return error_response(500, SERVER_ERROR_MESSAGE, "server_error")
    previous = body.get("previous_response_id")
    prior = None if previous is None else emu.get(previous)
    if previous is not None and prior is None:
        return error_response(
            400,
            f"Previous response with id '{previous}' not found.",
            "invalid_request_error",
            param="previous_response_id",
        )
    try:
        check_tool_outputs(body, prior.open_calls() if prior is not None else frozenset())
    except BadRequest as exc:
        return error_response(400, exc.message, "invalid_request_error", param=exc.param, code=exc.code)
    background = body.get("background") is True and not emu.config.ignores_background
    record = emu.create(body, faults, background=background)
    job = emu.job(record.id)
    include = frozenset(body.get("include") or ())
    # The job already runs; the client hears of it late, or not at all if it leaves meanwhile.
    if emu.config.create_delay and await delivery.left_within(request, emu.config.create_delay):
        return delivery.client_gone(emu, job)
    lost = await delivery.lose_answer(request, emu, job)
    if lost is not None:
        return lost
    if record.stream:
        if delivery.left_already(request):
            return delivery.client_gone(emu, job)
        # The stream settles `answered` itself, when its first event carrying the id is written.
        return streaming.stream_response(emu, record, -1, include, record.obfuscation, job=job)
    if background:
        # A background create answers at once with the `queued` snapshot, however short the work is;
        # the first poll shows whatever progress the clock has made since.
        snapshot = response_object(record, CREATED, include)
        return await delivery.deliver(request, emu, job, json_response(snapshot))
    horizon = await _until_finished(emu, record)
    final = response_object(record, record.visible(horizon), include)
    return await delivery.deliver(request, emu, job, json_response(final))


async def _until_finished(emu: Emulator, record: Record) -> float:
    """Hold a foreground create until its terminal event; returns the elapsed time to render at.

    Timers may fire a hair early, so the rendering horizon is at least the terminal event's offset."""
    finished = record.finished_after or 0.0
    remaining = finished - emu.elapsed(record)
    if remaining > 0:
        await asyncio.sleep(remaining)
    return max(emu.elapsed(record), finished)
