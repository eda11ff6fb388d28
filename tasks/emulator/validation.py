"""Checks on create requests, answered with OpenAI's 400 `invalid_request_error` wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from rowrelay.tasks.emulator.reasoning import EFFORTS, SUMMARIES, allowed_efforts, is_reasoning_model

SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority")
"""What a create's `service_tier` may ask for (the spec's `ServiceTier`)."""
TEMPERATURES = (0, 2)
"""The least and the greatest `temperature` the spec allows; 1 is the default."""
TOP_LOGPROBS = (0, 20)
"""The least and the greatest `top_logprobs` the spec allows."""


@dataclass(slots=True)
class BadRequest(Exception):
    message: str
    param: str | None = None
    code: str | None = None


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


def check_create(body: Any, store_policy: str) -> None:
    """Refuse what OpenAI refuses; unknown fields are accepted, as the real API does."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    value = body.get("input")
    if value is not None and not isinstance(value, (str, list)):
        raise BadRequest("Invalid type for 'input': expected a string or an array.", "input")
    for flag in ("background", "stream", "store"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise BadRequest(f"Invalid type for '{flag}': expected a boolean.", flag)
    if body.get("background") is True and body.get("store") is False and store_policy == "legacy":
        raise BadRequest("Background mode requires store=true.", "store")
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or limit < 16):
        raise BadRequest(
            "Invalid 'max_output_tokens': integer below minimum value. "
            f"Expected a value >= 16, but got {limit} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )
    _check_metadata(body.get("metadata"))
    tier = body.get("service_tier")
    if tier is not None and tier not in SERVICE_TIERS:
        raise BadRequest(
            f"Invalid value: {tier!r}. Supported values are: {listed(SERVICE_TIERS)}.",
            "service_tier",
            "invalid_value",
        )
    _check_reasoning(model, body.get("reasoning"))
    check_temperature(model, body.get("temperature"))
    check_top_logprobs(model, body.get("top_logprobs"))


def _check_reasoning(model: str, reasoning: Any) -> None:
    if reasoning is not None and not isinstance(reasoning, dict):
        raise invalid_type("reasoning", "an object", reasoning)
    check_effort(model, (reasoning or {}).get("effort"), "reasoning.effort")
    _check_summary(model, (reasoning or {}).get("summary"))


def check_effort(model: str, effort: Any, param: str) -> None:
    """Refuse an effort the spec does not know, or that `model` does not take, as the service does.

    `param` names the field: `reasoning.effort` on the Responses API, `reasoning_effort` on Chat
    Completions. Null asks for the model's default, which every model accepts."""
    check_choice(effort, param, EFFORTS, allowed_efforts(model))


def _check_summary(model: str, summary: Any) -> None:
    """Refuse a `reasoning.summary` the spec does not know, or any on a model that does not reason, in
    the words and order effort's are refused in. Null asks for no summary, which every model accepts."""
    check_choice(summary, "reasoning.summary", SUMMARIES, SUMMARIES if is_reasoning_model(model) else ())


def check_choice(value: Any, param: str, known: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Refuse a string field outside the spec's `known` values, or outside those the model takes
    (`allowed`; none: the model takes no such field), in the service's words and order. Null asks for
    the default, which every model accepts."""
    if value is None:
        return
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if value not in known:
        raise BadRequest(
            f"Invalid value: {value!r}. Supported values are: {listed(known)}.", param, "invalid_value"
        )
    if not allowed:
        raise unsupported(param)
    if value not in allowed:
        raise BadRequest(
            f"Unsupported value: '{param}' does not support {value!r} with this model. "
            f"Supported values are: {listed(allowed)}.",
            param,
            "unsupported_value",
        )


def check_temperature(model: str, temperature: Any) -> None:
    """Refuse a `temperature` that is not a number from 0 to 2, or not the default on a reasoning model
    (it samples at the default only), in the service's words: the same field and wording on the
    Responses API and Chat Completions. Null asks for the default, which every model accepts."""
    if temperature is None:
        return
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):  # a bool is an int
        raise invalid_type("temperature", "a decimal", temperature)
    check_range("temperature", temperature, TEMPERATURES, "decimal")
    if temperature != 1 and is_reasoning_model(model):
        raise BadRequest(
            f"Unsupported value: 'temperature' does not support {temperature!r} with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        )


def check_range(param: str, value: float, bounds: tuple[int, int], kind: str) -> None:
    """Refuse a number outside `bounds` in the service's words, its `kind` (`decimal`, `integer`) named:
    "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead."
    The number is shown as sent (`3`, `2.5`): Python's repr of the parsed JSON value."""
    low, high = bounds
    if value < low:
        raise BadRequest(
            f"Invalid '{param}': {kind} below minimum value. Expected a value >= {low}, but got {value!r} "
            "instead.",
            param,
            f"{kind}_below_min_value",
        )
    if value > high:
        raise BadRequest(
            f"Invalid '{param}': {kind} above maximum value. Expected a value <= {high}, but got {value!r} "
            "instead.",
            param,
            f"{kind}_above_max_value",
        )


def check_top_logprobs(model: str, top: Any) -> None:
    """Refuse a `top_logprobs` that is not an integer from 0 to 20, or any on a reasoning model (it gives
    no logprobs), in the service's words, as `temperature` is refused. Null asks for none.

    A reasoning model asked for logprobs only through the Responses API's `include` is not refused: its
    parts keep `"logprobs": []` (logprobs.py)."""
    if top is None:
        return
    if isinstance(top, bool) or not isinstance(top, int):  # a bool is an int
        raise invalid_type("top_logprobs", "an integer", top)
    check_range("top_logprobs", top, TOP_LOGPROBS, "integer")
    if is_reasoning_model(model):
        raise unsupported("top_logprobs")


def check_chat_logprobs(model: str, logprobs: Any, top: Any) -> None:
    """Chat Completions' `logprobs` (a boolean) and `top_logprobs`, refused as the service refuses them:
    neither on a reasoning model, and `top_logprobs` only with `logprobs: true`. The last message is the
    one the service sent in 2024 (quoted in IBM/unitxt#1193), with no code."""
    if logprobs is not None and not isinstance(logprobs, bool):
        raise invalid_type("logprobs", "a boolean", logprobs)
    if logprobs is True and is_reasoning_model(model):
        raise unsupported("logprobs")
    check_top_logprobs(model, top)
    if top is not None and logprobs is not True:
        raise BadRequest(
            "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.", "top_logprobs"
        )


def unsupported(param: str) -> BadRequest:
    """The service's 400 for a field the model does not take at all."""
    return BadRequest(
        f"Unsupported parameter: '{param}' is not supported with this model.", param, "unsupported_parameter"
    )


def check_typed_object(value: Any, where: str, types: tuple[str, ...]) -> dict[str, Any]:
    """An object with a `type` among `types` (a tool, a content part), refused as the service words it."""
    if not isinstance(value, dict):
        raise invalid_type(where, "an object", value)
    if value.get("type") is None:
        missing(f"{where}.type")
    check_choice(value["type"], f"{where}.type", types, types)
    return value


def invalid_type(param: str, expected: str, value: Any) -> BadRequest:
    """The service's 400 for a field of the wrong JSON type ("Invalid type for 'reasoning': expected an
    object, but got a string instead.")."""
    message = f"Invalid type for '{param}': expected {expected}, but got {json_type(value)} instead."
    return BadRequest(message, param, "invalid_type")


def missing(param: str) -> NoReturn:
    raise BadRequest(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def listed(values: tuple[str, ...]) -> str:
    """`'a', 'b', and 'c'`: how the service lists the values a field takes (`'a' and 'b'` for two)."""
    quoted = [repr(value) for value in values]
    if len(quoted) < 3:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def json_type(value: Any) -> str:
    """A value's JSON type as the service names it in an `invalid_type` message."""
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, dict):
        return "an object"
    return "an array" if isinstance(value, list) else "a string"


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise BadRequest("Invalid 'metadata': expected an object with at most 16 keys.", "metadata")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise BadRequest(
                "Invalid 'metadata': keys are strings of at most 64 characters and values strings "
                "of at most 512 characters.",
                "metadata",
            )


def check_tool_outputs(body: dict[str, Any], open_calls: frozenset[str]) -> None:
    """Every function call must be answered exactly where the service requires it, in OpenAI's words.

    `open_calls` are the calls the `previous_response_id` response ended with; the input may also carry
    `function_call` items itself (a stateless client resends them). A `function_call_output` must answer
    one of those calls, and each of them needs its output."""
    value = body.get("input")
    items = value if isinstance(value, list) else []
    calls = set(open_calls)
    outputs: list[str] = []
    for item in items:
        if isinstance(item, dict) and item.get("type") == "function_call":
            calls.add(str(item.get("call_id")))
        elif isinstance(item, dict) and item.get("type") == "function_call_output":
            outputs.append(str(item.get("call_id")))
    for call_id in outputs:
        if call_id not in calls:
            raise BadRequest(f"No tool call found for function call output with call_id {call_id}.", "input")
    unanswered = sorted(calls - set(outputs))
    if unanswered:
        raise BadRequest(f"No tool output found for function call {unanswered[0]}.", "input")
