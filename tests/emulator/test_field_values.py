"""Values the spec forbids in the fields a client most often gets wrong (an enum misspelt, a number out of
range, a string where a boolean goes, a message role of the other API) are refused as the service
refuses them, in its words, and start nothing; Chat Completions refuses `max_tokens` on a reasoning
model."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec, check_response
from tests.support.emulator_checks import (
    PROMPT,
    ROUTES,
    Route,
    check_nothing_started,
    check_refusal,
    refused_create,
)

INCLUDES = (
    "'file_search_call.results', 'web_search_call.results', 'web_search_call.action.sources', "
    "'message.input_image.image_url', 'computer_call_output.output.image_url', "
    "'code_interpreter_call.outputs', 'reasoning.encrypted_content', and 'message.output_text.logprobs'"
)
ROLES = "'assistant', 'system', 'developer', and 'user'"
CHAT_ROLES = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'"
MODES = "'none', 'auto', and 'required'"
TIERS = "'auto', 'default', 'flex', 'scale', or 'priority'"
Refusal = tuple[str, str]
"""The code and the message of a 400."""


def _value(value: str, supported: str) -> Refusal:
    return "invalid_value", f"Invalid value: '{value}'. Supported values are: {supported}."


def _type(param: str, expected: str, got: str) -> Refusal:
    return "invalid_type", f"Invalid type for '{param}': expected {expected}, but got {got} instead."


def _range(param: str, side: str, bound: str, got: object) -> Refusal:
    above = side == "above"
    sentence = f"Expected a value {'<=' if above else '>='} {bound}, but got {got} instead."
    kind = f"decimal {side} {'maximum' if above else 'minimum'} value"
    return f"decimal_{side}_{'max' if above else 'min'}_value", f"Invalid '{param}': {kind}. {sentence}"


def _missing(param: str) -> Refusal:
    return "missing_required_parameter", f"Missing required parameter: '{param}'."


# (fields sent, param, (code, message)): the Responses API.
RESPONSES_REFUSALS = [
    pytest.param({"tool_choice": "any"}, "tool_choice", _value("any", MODES), id="tool-choice"),
    pytest.param({"tool_choice": 7}, "tool_choice",
                 _type("tool_choice", "one of an object or 'none', 'auto', or 'required'", "an integer"),
                 id="tool-choice-type"),
    pytest.param({"truncation": "on"}, "truncation", _value("on", "'auto' and 'disabled'"), id="truncation"),
    pytest.param({"truncation": True}, "truncation",
                 _type("truncation", "one of 'auto' or 'disabled'", "a boolean"), id="truncation-type"),
    pytest.param({"text": {"format": {"type": "json"}}}, "text.format.type",
                 _value("json", "'json_object', 'text', and 'json_schema'"), id="text-format-type"),
    pytest.param({"text": {"format": {}}}, "text.format.type", _missing("text.format.type"),
                 id="text-format-without-type"),
    pytest.param({"text": "json"}, "text", _type("text", "an object", "a string"), id="text-type"),
    pytest.param({"include": ["usage"]}, "include[0]", _value("usage", INCLUDES), id="include"),
    pytest.param({"include": ["reasoning.encrypted_content", "output_text.logprobs"]}, "include[1]",
                 _value("output_text.logprobs", INCLUDES), id="include-second"),
    pytest.param({"top_p": 1.5}, "top_p", _range("top_p", "above", "1", 1.5), id="top-p-above"),
    pytest.param({"top_p": -1}, "top_p", _range("top_p", "below", "0", -1), id="top-p-below"),
    pytest.param({"top_p": "0.9"}, "top_p", _type("top_p", "a decimal", "a string"), id="top-p-type"),
    pytest.param({"parallel_tool_calls": "false"}, "parallel_tool_calls",
                 _type("parallel_tool_calls", "a boolean", "a string"), id="parallel-tool-calls"),
    pytest.param({"background": 1}, "background", _type("background", "a boolean", "an integer"),
                 id="background"),
    pytest.param({"stream_options": "usage"}, "stream_options",
                 _type("stream_options", "an object", "a string"), id="stream-options"),
    pytest.param({"instructions": ["Be brief."]}, "instructions",
                 _type("instructions", "a string", "an array"), id="instructions"),
    pytest.param({"max_output_tokens": "500"}, "max_output_tokens",
                 _type("max_output_tokens", "an integer", "a string"), id="max-output-tokens-type"),
    pytest.param({"max_output_tokens": 99.5}, "max_output_tokens",
                 _type("max_output_tokens", "an integer", "a decimal number"), id="max-output-decimal"),
    pytest.param({"input": [{"role": "tool", "content": "42"}]}, "input[0]", _value("tool", ROLES),
                 id="role-tool"),
    pytest.param({"input": [{"role": "user", "content": "hi"}, {"type": "message", "content": "x"}]},
                 "input[1]", _value("", ROLES), id="role-missing"),
    pytest.param({"input": 7}, "input",
                 _type("input", "one of a string or array of input items", "an integer"), id="input-type"),
    pytest.param({"input": ["hi"]}, "input[0]", _type("input[0]", "an input item", "a string"),
                 id="input-item-type"),
    pytest.param({"service_tier": {"tier": "flex"}}, "service_tier", _type("service_tier",
                 f"one of {TIERS}", "an object"), id="service-tier-type"),
    pytest.param({"foo": 1, "top_p": 7}, "foo", ("unknown_parameter", "Unknown parameter: 'foo'."),
                 id="an-unknown-parameter-first"),
]  # fmt: skip


# (fields sent, param, (code, message)): the same fields and words on both routes.
SHARED_REFUSALS = [
    pytest.param({"tool_choice": "function"}, "tool_choice", _value("function", MODES), id="tool-choice"),
    pytest.param({"top_p": 2}, "top_p", _range("top_p", "above", "1", 2), id="top-p"),
    pytest.param({"parallel_tool_calls": "no"}, "parallel_tool_calls",
                 _type("parallel_tool_calls", "a boolean", "a string"), id="parallel-tool-calls"),
    pytest.param({"stream": "yes"}, "stream", _type("stream", "a boolean", "a string"), id="stream"),
]  # fmt: skip


# (fields sent, param, (code, message)): Chat Completions' own.
CHAT_REFUSALS = [
    pytest.param({"messages": [{"role": "human", "content": "hi"}]}, "messages[0].role",
                 _value("human", CHAT_ROLES), id="role"),
    pytest.param({"messages": [{"content": "hi"}]}, "messages[0].role", _missing("messages[0].role"),
                 id="role-missing"),
    pytest.param({"messages": []}, "messages", ("empty_array", "Invalid 'messages': empty array. Expected an "
                 "array with minimum length 1, but got an empty array instead."), id="no-messages"),
    pytest.param({"response_format": {"type": "json"}}, "response_format.type",
                 _value("json", "'json_object', 'json_schema', and 'text'"), id="response-format-type"),
    pytest.param({"tool_choice": 7}, "tool_choice",
                 _type("tool_choice", "one of one of 'none', 'auto', or 'required' or object", "an integer"),
                 id="tool-choice-type"),
]  # fmt: skip


def _on(route: Route, cases: list[Any]) -> list[Any]:
    return [pytest.param(route, *case.values, id=f"{route}-{case.id}") for case in cases]


REFUSALS = [
    *_on("responses", RESPONSES_REFUSALS),
    *(case for route in ROUTES for case in _on(route, SHARED_REFUSALS)),
    *_on("chat", CHAT_REFUSALS),
]


@pytest.mark.parametrize(("route", "extra", "param", "refusal"), REFUSALS)
async def test_a_field_the_spec_forbids_is_refused_in_openais_words(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    route: Route,
    extra: dict[str, Any],
    param: str,
    refusal: Refusal,
) -> None:
    refused = await refused_create(client, route, "gpt-4.1", extra)
    check_refusal(spec, refused, param, *refusal)
    check_nothing_started(emulator)


@pytest.mark.parametrize("model", ["o4-mini", "o3", "gpt-5-mini"])
async def test_chat_completions_refuses_max_tokens_on_a_reasoning_model(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec, model: str
) -> None:
    refused = await refused_create(client, "chat", model, {"max_tokens": 256})
    message = (
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead."
    )
    check_refusal(spec, refused, "max_tokens", "unsupported_parameter", message)
    check_nothing_started(emulator)


async def test_max_tokens_is_taken_on_a_model_that_does_not_reason_and_max_completion_tokens_on_any(
    client: AsyncOpenAI,
) -> None:
    messages: Any = [{"role": "user", "content": PROMPT}]
    for model, limit in (("gpt-4.1", {"max_tokens": 16}), ("o4-mini", {"max_completion_tokens": 4096})):
        completion = await client.chat.completions.create(model=model, messages=messages, extra_body=limit)
        assert completion.usage is not None
        assert completion.usage.completion_tokens <= min(limit.values()), "and honoured as the ceiling"


FUNCTION: Any = {"type": "function", "name": "f", "parameters": {"type": "object"}}
ACCEPTED = [
    pytest.param({"tool_choice": "required", "tools": [FUNCTION]}, id="tool-choice"),
    pytest.param({"truncation": "auto", "top_p": 0, "parallel_tool_calls": True}, id="truncation-top-p"),
    pytest.param({"text": {"format": {"type": "json_object"}}}, id="json-object"),
    pytest.param({"include": ["reasoning.encrypted_content", "message.output_text.logprobs"]}, id="include"),
    pytest.param({"instructions": None, "max_output_tokens": 16}, id="instructions-null"),
    pytest.param({"input": [{"role": role, "content": PROMPT} for role in ("developer", "system", "user")]},
                 id="roles"),
]  # fmt: skip


@pytest.mark.parametrize("extra", ACCEPTED)
async def test_the_values_the_spec_allows_are_taken(
    client: AsyncOpenAI, spec: Spec, extra: dict[str, Any]
) -> None:
    answer = await client.responses.create(model="gpt-4.1", input=PROMPT, extra_body=extra)
    check_response(spec, answer.to_dict())
