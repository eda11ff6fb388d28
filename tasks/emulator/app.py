"""The HTTP surface: OpenAI's /v1 routes, the Responses routes again as Azure OpenAI serves them (under
/openai), plus the emulator's own /emulator inspection routes."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from rowrelay.tasks.emulator import chat, delivery, streaming
from rowrelay.tasks.emulator.admission import RateLimited
from rowrelay.tasks.emulator.config import EmulatorConfig
from rowrelay.tasks.emulator.content_parts import as_listed
from rowrelay.tasks.emulator.create import create_response
from rowrelay.tasks.emulator.delivery import CLIENT_GONE, GatewayResponse, gateway_page
from rowrelay.tasks.emulator.payloads import response_object
from rowrelay.tasks.emulator.replies import (
    AZURE_ACCESS_DENIED,
    azure_error,
    cancel_refused,
    error_response,
    json_response,
    not_found,
    rate_limited,
)
from rowrelay.tasks.emulator.service import Clock, Emulator, RealClock
from rowrelay.tasks.emulator.timeline import Record
from rowrelay.tasks.emulator.validation import truthy

Handler = Callable[[Request, Emulator], Awaitable[Response]]
MODELS = ("gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini", "gpt-5-mini", "gpt-5", "o3", "o4-mini")


def include_of(request: Request) -> frozenset[str]:
    params = request.query_params
    return frozenset(params.getlist("include[]") + params.getlist("include"))


# --- /v1/responses ---------------------------------------------------------------------------


def _polled_record(request: Request, emu: Emulator) -> Record | Response:
    """Charge the poll budget and find the response: the record, or the 429/404 to answer with (404 too
    from a replica that did not make it, `EmulatorConfig.replicas`)."""
    response_id = request.path_params["response_id"]
    try:
        emu.admit_poll(request.headers.get("x-emulator-fault") == "rate-limit")
    except RateLimited as exc:
        return rate_limited(exc, None)
    record = emu.get(response_id)
    if record is None or not emu.replicas.holds(response_id):
        return not_found(response_id)
    return record


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
    if emu.config.cancel_refusal is not None:
        return cancel_refused(emu.config.cancel_refusal)
    record = _polled_record(request, emu)
    if isinstance(record, Response):
        return record
    if not record.background:
        return error_response(
            400,
            "Only responses created with background=true can be cancelled.",
            "invalid_request_error",
        )
    if emu.config.cancel_delay and await delivery.left_within(request, emu.config.cancel_delay):
        return GatewayResponse(b"", CLIENT_GONE)  # it never reached the response
    before = response_object(record, record.visible(emu.elapsed(record)))
    emu.cancel(record)
    if emu.config.cancels_later:
        return json_response(before)
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
    """The input as its items: a string as one user message, content parts as sent (images, files)."""
    raw = [{"role": "user", "content": value}] if isinstance(value, str) else list(value or [])
    items = []
    for index, item in enumerate(raw):
        content = item.get("content")
        if isinstance(content, str):
            content = [{"type": "input_text", "text": content}]
        elif isinstance(content, list):
            content = [as_listed(part) for part in content]
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


async def inspect_counts(request: Request, emu: Emulator) -> Response:
    return json_response(emu.counts())


# --- wiring ----------------------------------------------------------------------------------

_POLL_PATHS = frozenset({"GET /responses/{response_id}", "POST /responses/{response_id}/cancel"})
_AZURE = "/openai"
"""Azure OpenAI's prefix for the same routes (`{endpoint}/openai/responses?api-version=...`), where the
SDK's `AzureOpenAI` sends them."""


def _wrap(emu: Emulator, route: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    method, path = route.split(" ", 1)
    azure = path.startswith(_AZURE + "/")
    poll = f"{method} {path.removeprefix('/v1').removeprefix(_AZURE)}" in _POLL_PATHS
    api = path.startswith("/v1/") or azure
    key = emu.config.api_key if api else None
    down_until = emu.clock.monotonic() + emu.config.down_for  # the gateway's upstream restarting

    async def endpoint(request: Request) -> Response:
        # Counted on arrival: a request whose client gave up (a timed-out create) still reached us.
        emu.routes[route] += 1
        response: Response
        if api and emu.clock.monotonic() < down_until:
            response = gateway_page(502)  # the gateway's own answer: the API never saw the request
        elif azure and "api-version" not in request.query_params:
            response = azure_error(404, "Resource not found")
        elif key is not None and not _signed(request, key, azure=azure):
            response = (
                azure_error(401, AZURE_ACCESS_DENIED)
                if azure
                else error_response(
                    401,
                    "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    code="invalid_api_key",
                )
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


def _signed(request: Request, key: str, *, azure: bool) -> bool:
    """OpenAI takes the key as a bearer; Azure takes it in `api-key`, or a Microsoft Entra ID token as a
    bearer (here: the key again, since no token can be checked)."""
    if azure and request.headers.get("api-key") == key:
        return True
    return request.headers.get("authorization") == f"Bearer {key}"


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
    ("GET", "/emulator/counts", inspect_counts),
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
        for method, path, handler in (*_TABLE, *_azure_twins())
    ]
    app = _EmulatorApp(routes=routes)
    app.state.emulator = emu
    return app


def _azure_twins() -> list[tuple[str, str, Handler]]:
    """The Responses routes as Azure OpenAI serves them: under `/openai`, with an `api-version` query."""
    return [
        (method, _AZURE + path.removeprefix("/v1"), handler)
        for method, path, handler in _TABLE
        if path.startswith("/v1/responses")
    ]
