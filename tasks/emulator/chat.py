"""`POST /v1/chat/completions`: the synchronous backend with no background mode and no token."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from rowrelay.tasks.emulator import delivery
from rowrelay.tasks.emulator.admission import RateLimited
from rowrelay.tasks.emulator.content_parts import check_parts
from rowrelay.tasks.emulator.context import check_context
from rowrelay.tasks.emulator.faults import Faults
from rowrelay.tasks.emulator.hosted_tools import check_chat_tools
from rowrelay.tasks.emulator.jobs import Job
from rowrelay.tasks.emulator.logprobs import choice_logprobs
from rowrelay.tasks.emulator.model import Plan
from rowrelay.tasks.emulator.payloads import SERVER_ERROR_MESSAGE, error_body, served_tier
from rowrelay.tasks.emulator.refusals import BadRequest
from rowrelay.tasks.emulator.replies import model_not_found
from rowrelay.tasks.emulator.service import Emulator
from rowrelay.tasks.emulator.structured import json_format
from rowrelay.tasks.emulator.validation import check_chat


def _error(status: int, message: str, type_: str, param: str | None = None, **extra: str) -> Response:
    return Response(
        orjson.dumps(error_body(message, type_, param=param, code=extra.get("code"))),
        status,
        media_type="application/json",
    )


async def create(request: Request, emu: Emulator) -> Response:
    try:
        body = orjson.loads(await request.body())
        faults = Faults.parse(
            request.headers.get("x-emulator-fault"), request.headers.get("x-emulator-latency")
        )
    except (orjson.JSONDecodeError, ValueError) as exc:
        return _error(
            400, f"We could not parse the JSON body of your request: {exc}", "invalid_request_error"
        )
    try:
        body = check_chat(body)
        check_chat_tools(body)
        json_format(body, "chat")
        check_parts(body, "chat")
        check_context(body, "chat")  # last: the request is well-formed, only too long
    except BadRequest as exc:
        return _error(400, exc.message, "invalid_request_error", exc.param, **_code(exc.code))
    if not emu.config.serves(body["model"]):
        return model_not_found(body["model"])
    try:
        emu.admit_create(body, faults.rate_limited)
    except RateLimited as exc:
        response = _error(
            429,
            f"Rate limit reached on {exc.kind} per min. Please try again in {exc.wait:.3g}s.",
            exc.kind,
            code="rate_limit_exceeded",
        )
        response.headers.update(exc.headers())
        return response
    if emu.draw_http_error(body) or faults.http_error:
        return _error(500, SERVER_ERROR_MESSAGE, "server_error")
    job = emu.start_chat(body, faults)
    lost = await delivery.lose_answer(request, emu, job)
    if lost is not None:
        return lost
    plan, created = job.plan, int(time.time())
    if body.get("stream") is True:
        return StreamingResponse(_answered(emu, job, created), media_type="text/event-stream")
    await asyncio.sleep(plan.work_time)
    if plan.outcome == "failed":
        # The job ran and failed; the 500 carries no id, so the client cannot tell it from a create
        # that started nothing: not answered.
        emu.settle(job, answered=False)
        return _error(500, SERVER_ERROR_MESSAGE, "server_error")
    completion = _completion(job.id, created, body, plan)
    return await delivery.deliver(
        request, emu, job, Response(orjson.dumps(completion), media_type="application/json")
    )


def _code(code: str | None) -> dict[str, str]:
    return {} if code is None else {"code": code}


def _usage(plan: Plan) -> dict[str, Any]:
    return {
        "prompt_tokens": plan.input_tokens,
        "completion_tokens": plan.output_tokens,
        "total_tokens": plan.input_tokens + plan.output_tokens,
        "prompt_tokens_details": {"cached_tokens": plan.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
    }


def _finish_reason(plan: Plan) -> str:
    if plan.outcome == "incomplete":
        return "content_filter" if plan.filtered else "length"
    return "tool_calls" if plan.call is not None else "stop"


def _call_id(ident: str) -> str:
    return "call_" + hashlib.blake2b(ident.encode(), digest_size=12).hexdigest()


def _completion(ident: str, created: int, body: dict[str, Any], plan: Plan) -> dict[str, Any]:
    # A refusal comes in its own field, with no content (the SDK's parse() reads it as `message.refusal`).
    text, refusal = (None, plan.text) if plan.refusal else (plan.text, None)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": refusal}
    if plan.call is not None:
        function = {"name": plan.call.name, "arguments": plan.call.arguments}
        message.update(
            content=None, tool_calls=[{"id": _call_id(ident), "type": "function", "function": function}]
        )
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": _finish_reason(plan),
        "logprobs": choice_logprobs(plan, body, 0, len(plan.text)),
    }
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": body["model"],
        "choices": [choice],
        "usage": _usage(plan),
        "service_tier": served_tier(body),
        "system_fingerprint": "fp_emulator",
    }


async def _answered(emu: Emulator, job: Job, created: int) -> AsyncIterator[bytes]:
    """The chunks, settling `answered` once the first (it carries the id) has been written."""
    try:
        async for frame in _chunks(job.id, created, job.body, job.plan):
            yield frame
            emu.settle(job, answered=True)
    finally:
        emu.settle(job, answered=False)  # a no-op once answered


async def _chunks(ident: str, created: int, body: dict[str, Any], plan: Plan) -> AsyncIterator[bytes]:
    """The completion's chunks. Each chunk of text carries its own tokens' logprobs, when asked for; the
    first (no text yet) carries empty ones, the last (none) null.

    With `stream_options: {"include_usage": true}`, as the spec says: every chunk has `usage: null`,
    and one more chunk after the last, with no choices (`[]`), carries the usage before `[DONE]`."""
    wants_usage = (body.get("stream_options") or {}).get("include_usage") is True
    no_usage: dict[str, Any] = {"usage": None} if wants_usage else {}

    def chunk(choices: list[dict[str, Any]], extra: dict[str, Any]) -> bytes:
        fields = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": body["model"]}
        return b"data: " + orjson.dumps({**fields, "choices": choices, **extra}) + b"\n\n"

    def frame(delta: dict[str, Any], finish: str | None, logprobs: dict[str, Any] | None = None) -> bytes:
        return chunk([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}], no_usage)

    call = plan.call
    if call is None:
        yield frame({"role": "assistant", "content": ""}, None, logprobs=choice_logprobs(plan, body, 0, 0))
    else:  # the call's id, type and name come first, then its arguments in pieces
        named = {"index": 0, "id": _call_id(ident), "type": "function"}
        first = {**named, "function": {"name": call.name, "arguments": ""}}
        yield frame({"role": "assistant", "content": None, "tool_calls": [first]}, None)
    pieces = plan.chunks if call is None else call.chunks
    step = plan.work_time / max(1, len(pieces))
    written = 0
    for piece in pieces:
        await asyncio.sleep(step)
        if call is not None:
            yield frame({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None)
        else:
            logprobs = choice_logprobs(plan, body, written, written + len(piece))
            yield frame({"refusal" if plan.refusal else "content": piece}, None, logprobs=logprobs)
            written += len(piece)
    yield frame({}, _finish_reason(plan))
    if wants_usage:
        yield chunk([], {"usage": _usage(plan)})
    yield b"data: [DONE]\n\n"
