"""The HTTP surface: OpenAI's /v1 routes plus the emulator's own /emulator inspection routes."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from rowrelay.tasks.emulator import chat, streaming
from rowrelay.tasks.emulator.config import EmulatorConfig
from rowrelay.tasks.emulator.create import create_response
from rowrelay.tasks.emulator.delivery import GatewayResponse
from rowrelay.tasks.emulator.payloads import response_object
from rowrelay.tasks.emulator.replies import error_response, json_response, not_found, rate_limited
from rowrelay.tasks.emulator.service import Clock, Emulator, RateLimited, RealClock
from rowrelay.tasks.emulator.timeline import Record
from rowrelay.tasks.emulator.validation import truthy

Handler = Callable[[Request, Emulator], Awaitable[Response]]
MODELS = ("gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini", "gpt-5-mini", "gpt-5", "o3", "o4-mini")


def include_of(request: Request) -> frozenset[str]:
    params = request.query_params
    return frozenset(params.getlist("include[]") + params.getlist("include"))


# --- /v1/responses ---------------------------------------------------------------------------


def _polled_record(request: Request, emu: Emulator) -> Record | Response:
    """Charge the poll budget and find the response: the record, or the 429/404 to answer with."""
    response_id = request.path_params["response_id"]
    try:
        emu.admit_poll(request.headers.get("x-emulator-fault") == "rate-limit")
    except RateLimited as exc:
        return rate_limited(exc, None)
    record = emu.get(response_id)
    return not_found(response_id) if record is None else record


async def retrieve_response(request: Request, emu: Emulator) -> Response:
    record = _polled_record(request, emu)
    if isinstance(record, Response):
        return record
    params = request.query_params
    include = include_of(request)
    if truthy(params.get("stream")):
        problem = streaming.refuse_resume(emu, record)
        if problem is not None:
            return error_response(400, problem, "invalid_request_error", param="stream")
        try:
            after = int(params.get("starting_after", "-1"))
        except ValueError:
            return error_response(
                400,
                "Invalid 'starting_after': expected an integer.",
                "invalid_request_error",
                param="starting_after",
            )
        obfuscation = params.get("include_obfuscation") is None or truthy(params["include_obfuscation"])
        return streaming.stream_response(emu, record, after, include, obfuscation)
    seen = record.visible(emu.elapsed(record))
    if seen and seen[-1].kind == "terminal":
        emu.telling_end(record.id)
    return json_response(response_object(record, seen, include))


async def cancel_response(request: Request, emu: Emulator) -> Response:
    record = _polled_record(request, emu)
    if isinstance(record, Response):
        return record
    if not record.background:
        return error_response(
            400,
            "Only responses created with background=true can be cancelled.",
            "invalid_request_error",
        )
    emu.cancel(record)
    return json_response(response_object(record, record.visible(emu.elapsed(record))))


async def delete_response(request: Request, emu: Emulator) -> Response:
    response_id = request.path_params["response_id"]
    if emu.get(response_id) is None:
        return not_found(response_id)
    emu.delete(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


async def list_input_items(request: Request, emu: Emulator) -> Response:
    response_id = request.path_params["response_id"]
    record = emu.get(response_id)
    if record is None:
        return not_found(response_id)
    items = _input_items(record.id, record.body.get("input"))
    if request.query_params.get("order", "desc") == "desc":
        items.reverse()
    return json_response(
        {
            "object": "list",
            "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None,
            "has_more": False,
        }
    )


def _input_items(response_id: str, value: Any) -> list[dict[str, Any]]:
    raw = [{"role": "user", "content": value}] if isinstance(value, str) else list(value or [])
    items = []
    for index, item in enumerate(raw):
        content = item.get("content")
        if isinstance(content, str):
            content = [{"type": "input_text", "text": content}]
        items.append(
            {
                "id": f"msg_{response_id[5:29]}{index:024x}",
                "type": item.get("type", "message"),
                "role": item.get("role", "user"),
                "status": "completed",
                "content": content or [],
            }
        )
    return items


async def list_models(request: Request, emu: Emulator) -> Response:
    created = 1_700_000_000
    served = emu.config.models or MODELS
    data = [{"id": m, "object": "model", "created": created, "owned_by": "rowrelay-emulator"} for m in served]
    return json_response({"object": "list", "data": data})


async def chat_completions(request: Request, emu: Emulator) -> Response:
    return await chat.create(request, emu)


# --- inspection ------------------------------------------------------------------------------


async def inspect_responses(request: Request, emu: Emulator) -> Response:
    return json_response({"object": "list", "data": emu.listing()})


async def inspect_jobs(request: Request, emu: Emulator) -> Response:
    return json_response({"object": "list", "data": emu.jobs_listing()})


async def inspect_stats(request: Request, emu: Emulator) -> Response:
    return json_response(emu.stats())


# --- wiring ----------------------------------------------------------------------------------

_POLL_ROUTES = frozenset({"GET /v1/responses/{response_id}", "POST /v1/responses/{response_id}/cancel"})


def _wrap(emu: Emulator, route: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    poll = route in _POLL_ROUTES
    needs_key = route.split(" ", 1)[1].startswith("/v1/") and emu.config.api_key is not None
    expected = f"Bearer {emu.config.api_key}"

    async def endpoint(request: Request) -> Response:
        # Counted on arrival: a request whose client gave up (a timed-out create) still reached us.
        emu.routes[route] += 1
        if needs_key and request.headers.get("authorization") != expected:
            response = error_response(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        else:
            response = await handler(request, emu)
        if not isinstance(response, GatewayResponse):  # a gateway's page never reached the API's code
            response.headers.update(emu.headers(poll))
            response.headers["x-request-id"] = "req_" + secrets.token_hex(16)
            response.headers["openai-processing-ms"] = "1"
            response.headers["openai-version"] = "2020-10-01"
        emu.status_codes[response.status_code] += 1
        return response

    return endpoint


_TABLE: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/responses", create_response),
    ("GET", "/v1/responses/{response_id}", retrieve_response),
    ("DELETE", "/v1/responses/{response_id}", delete_response),
    ("POST", "/v1/responses/{response_id}/cancel", cancel_response),
    ("GET", "/v1/responses/{response_id}/input_items", list_input_items),
    ("GET", "/v1/models", list_models),
    ("POST", "/v1/chat/completions", chat_completions),
    ("GET", "/emulator/responses", inspect_responses),
    ("GET", "/emulator/jobs", inspect_jobs),
    ("GET", "/emulator/stats", inspect_stats),
)


class _EmulatorApp(Starlette):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[streaming.RAW_SEND] = send  # for the stream frames' short way to the server
        await super().__call__(scope, receive, send)


def create_app(config: EmulatorConfig | None = None, clock: Clock | None = None) -> Starlette:
    """A fresh emulator app with its own state; `app.state.emulator` exposes it to tests."""
    emu = Emulator(config or EmulatorConfig(), clock or RealClock())
    routes = [
        Route(path, _wrap(emu, f"{method} {path}", handler), methods=[method])
        for method, path, handler in _TABLE
    ]
    app = _EmulatorApp(routes=routes)
    app.state.emulator = emu
    return app
