"""Checks on create requests, answered with OpenAI's 400 `invalid_request_error` wording.

`check_create` (the Responses API and its Azure routes) and `check_chat` (Chat Completions) decide the
order a request's faults are reported in, as the service reports them: a missing model first, then a
parameter the route does not know (parameters.py), then each field (fields.py, and the model-dependent
ones here: reasoning, temperature, logprobs).
"""

from __future__ import annotations

from typing import Any

from rowrelay.tasks.emulator import fields
from rowrelay.tasks.emulator.parameters import check_known
from rowrelay.tasks.emulator.reasoning import EFFORTS, SUMMARIES, allowed_efforts, is_reasoning_model
from rowrelay.tasks.emulator.refusals import (
    BadRequest,
    check_choice,
    check_enum,
    check_range,
    invalid_type,
    unsupported,
)

__all__ = ["BadRequest", "check_chat", "check_create", "check_tool_outputs", "truthy"]

SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority")
"""What a create's `service_tier` may ask for (the spec's `ServiceTier`)."""
TEMPERATURES = (0, 2)
"""The least and the greatest `temperature` the spec allows; 1 is the default."""
TOP_LOGPROBS = (0, 20)
"""The least and the greatest `top_logprobs` the spec allows."""


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


def check_create(body: Any, store_policy: str) -> None:
    """Refuse what OpenAI refuses, a parameter it does not know included, in the order it reports them
    (the order of production bodies for requests with two faults)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    check_known(body, "responses")
    fields.check_input(body.get("input"))
    fields.check_include(body.get("include"))
    _check_metadata(body.get("metadata"))
    fields.check_text_format(body.get("text"))
    check_temperature(model, body.get("temperature"))
    fields.check_top_p(body.get("top_p"))
    fields.check_flag(body, "parallel_tool_calls")
    fields.check_tool_choice(body.get("tool_choice"), "responses")
    fields.check_flag(body, "stream")
    fields.check_object(body, "stream_options")
    fields.check_flag(body, "background")
    fields.check_max_output_tokens(body.get("max_output_tokens"))
    _check_reasoning(model, body.get("reasoning"))
    fields.check_truncation(body.get("truncation"))
    fields.check_instructions(body.get("instructions"))
    fields.check_flag(body, "store")
    check_enum(body.get("service_tier"), "service_tier", SERVICE_TIERS)
    check_top_logprobs(model, body.get("top_logprobs"))
    if body.get("background") is True and body.get("store") is False and store_policy == "legacy":
        raise BadRequest("Background mode requires store=true.", "store")


def check_chat(body: Any) -> dict[str, Any]:
    """Refuse a chat completion as OpenAI does, in its order; returns the body. Its tools, format schema,
    content parts and length are checked after (chat.py), as on the Responses route."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise BadRequest("Missing required parameter: 'model'.", "model")
    model: str = body["model"]
    if body.get("messages") is None:
        raise BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    check_known(body, "chat")
    fields.check_messages(body["messages"])
    fields.check_flag(body, "parallel_tool_calls")
    fields.check_tool_choice(body.get("tool_choice"), "chat")
    if body.get("max_tokens") is not None and is_reasoning_model(model):
        raise BadRequest(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    fields.check_flag(body, "stream")
    fields.check_object(body, "stream_options")
    fields.check_flag(body, "store")
    fields.check_response_format(body.get("response_format"))
    check_effort(model, body.get("reasoning_effort"), "reasoning_effort")
    check_temperature(model, body.get("temperature"))
    fields.check_top_p(body.get("top_p"))
    check_chat_logprobs(model, body.get("logprobs"), body.get("top_logprobs"))
    return body


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
