"""JSON replies and OpenAI's error envelope, as every /v1 route answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from rowrelay.tasks.emulator.admission import RateLimited, TooLarge
from rowrelay.tasks.emulator.payloads import error_body


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def error_response(
    status: int,
    message: str,
    type_: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return json_response(error_body(message, type_, param=param, code=code), status, headers)


AZURE_ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
"""Azure OpenAI's 401, for a key (or token) it does not take."""


def azure_error(status: int, message: str) -> Response:
    """Azure OpenAI's own error envelope, where its gateway answers before the model service: the status
    as the code, no type."""
    return json_response({"error": {"code": str(status), "message": message}}, status)


def not_found(response_id: str) -> Response:
    return error_response(404, f"Response with id '{response_id}' not found.", "invalid_request_error")


def model_not_found(model: object) -> Response:
    """OpenAI's answer to a model that does not exist or that the key may not use (nothing starts)."""
    return error_response(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        code="model_not_found",
    )


def rate_limited(exc: RateLimited, model: str | None) -> Response:
    unit = "requests per min (RPM)" if exc.kind == "requests" else "tokens per min (TPM)"
    if isinstance(exc, TooLarge):  # OpenAI's words, verbatim but for the organization
        message = (
            f"Request too large for {model or 'default'} in organization org-emulator on {unit}: "
            f"Limit {exc.limit}, Requested {exc.requested}. The input or output tokens must be reduced "
            "in order to run successfully. Visit https://platform.openai.com/account/rate-limits to "
            "learn more."
        )
        return error_response(429, message, exc.kind, code="rate_limit_exceeded")
    message = (
        f"Rate limit reached for {model or 'default'} in organization org-emulator on {unit}: "
        f"Limit {exc.limit}. Please try again in {exc.wait:.3g}s."
    )
    return error_response(429, message, exc.kind, code="rate_limit_exceeded", headers=exc.headers())


def cancel_refused(status: int) -> Response:
    """A cancel refused by a server that cannot cancel (`EmulatorConfig.cancel_refusal`): 400 in the API's
    envelope, or 405 as a web framework answers a route the server does not have."""
    if status == 405:
        return json_response({"detail": "Method Not Allowed"}, 405)
    return error_response(400, "Cancel is not supported for this response.", "invalid_request_error")
