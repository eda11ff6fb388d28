"""Parameters a route does not know are refused as the service refuses them, and the emulator's sets of
known parameters and enum values are the spec's: written out in the emulator (it does not read the
spec), held to it here so that neither drifts."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import completion_create_params
from openai.types.responses import response_create_params

from rowrelay.tasks.emulator import RunningEmulator, fields
from rowrelay.tasks.emulator.parameters import (
    CHAT_PARAMETERS,
    RESPONSES_SDK_ONLY_PARAMETERS,
    RESPONSES_SPEC_PARAMETERS,
)
from tests.emulator.contract import Spec, check_response
from tests.support.emulator_checks import (
    PROMPT,
    azure_client,
    check_nothing_started,
    check_refusal,
    refused_create,
)


def _properties(spec: Spec, name: str) -> set[str]:
    """A schema's property names, with those of the schemas it takes in through `allOf`."""
    schema = spec.schemas[name]
    found = set(schema.get("properties", {}))
    for part in schema.get("allOf", ()):
        ref = part.get("$ref")
        found |= _properties(spec, ref.rsplit("/", 1)[-1]) if ref else set(part.get("properties", {}))
    return found


def _enum(spec: Spec, *path: str) -> set[str]:
    node: Any = spec.schemas
    for key in path:
        node = node[key]
    return {value for value in node["enum"] if value is not None}


def test_the_known_parameters_are_the_specs(spec: Spec) -> None:
    assert set(RESPONSES_SPEC_PARAMETERS) == _properties(spec, "CreateResponse")
    assert set(CHAT_PARAMETERS) == _properties(spec, "CreateChatCompletionRequest")
    # What the SDK sends beyond the spec is the SDK's (a field the spec gains moves to the spec's set).
    assert not RESPONSES_SDK_ONLY_PARAMETERS & _properties(spec, "CreateResponse")
    sdk_responses = set(response_create_params.ResponseCreateParamsBase.__annotations__) | {"stream"}
    assert sdk_responses == RESPONSES_SPEC_PARAMETERS | RESPONSES_SDK_ONLY_PARAMETERS
    sdk_chat = set(completion_create_params.CompletionCreateParamsBase.__annotations__) | {"stream"}
    assert sdk_chat == CHAT_PARAMETERS


def test_the_enums_are_the_specs(spec: Spec) -> None:
    assert set(fields.INCLUDES) == _enum(spec, "IncludeEnum")
    assert set(fields.TOOL_CHOICES) == _enum(spec, "ToolChoiceOptions")
    assert set(fields.ROLES) == _enum(spec, "EasyInputMessage", "properties", "role")
    truncation = spec.schemas["CreateResponse"]["allOf"][-1]["properties"]["truncation"]["anyOf"][0]
    assert set(fields.TRUNCATIONS) == set(truncation["enum"])
    formats = spec.schemas["TextResponseFormatConfiguration"]["oneOf"]
    names = [ref["$ref"].rsplit("/", 1)[-1] for ref in formats]
    assert set(fields.TEXT_FORMATS) == {
        value for name in names for value in _enum(spec, name, "properties", "type")
    }
    assert set(fields.CHAT_FORMATS) == set(fields.TEXT_FORMATS)
    messages = spec.schemas["ChatCompletionRequestMessage"]["oneOf"]
    roles = {
        value
        for ref in messages
        for value in _enum(spec, ref["$ref"].rsplit("/", 1)[-1], "properties", "role")
    }
    assert set(fields.CHAT_ROLES) == roles


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        pytest.param({"foo": 1}, "foo", id="made-up"),
        pytest.param({"max_tokens": 64}, "max_tokens", id="chat-completions-name"),
        pytest.param({"reasoning_effort": "low"}, "reasoning_effort", id="chat-completions-effort"),
        pytest.param({"instruction": "Be brief."}, "instruction", id="misspelt"),
        pytest.param({"zeta": 1, "alpha": 2}, "zeta", id="the-first-sent-is-named"),
    ],
)
async def test_a_parameter_the_responses_api_does_not_know_is_refused(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec, extra: dict[str, Any], param: str
) -> None:
    refused = await refused_create(client, "responses", "gpt-4.1", extra)
    check_refusal(spec, refused, param, "unknown_parameter", f"Unknown parameter: '{param}'.")
    check_nothing_started(emulator)


async def test_the_azure_routes_refuse_an_unknown_parameter_as_the_v1_routes_do(
    emulator: RunningEmulator, spec: Spec
) -> None:
    async with azure_client(emulator.url.removesuffix("/v1"), api_key="k") as azure:
        with pytest.raises(openai.BadRequestError) as caught:
            await azure.responses.create(model="gpt-4.1", input=PROMPT, extra_body={"foo": 1})
    check_refusal(spec, caught.value, "foo", "unknown_parameter", "Unknown parameter: 'foo'.")
    check_nothing_started(emulator)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({"foo": 1}, "Unrecognized request argument supplied: foo", id="one"),
        pytest.param({"max_output_tokens": 64}, "Unrecognized request argument supplied: max_output_tokens",
                     id="responses-name"),
        pytest.param({"tools": [], "text": {}, "input": "x"},
                     "Unrecognized request arguments supplied: input, text", id="several-sorted"),
    ],
)  # fmt: skip
async def test_an_argument_chat_completions_does_not_know_is_refused(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec, extra: dict[str, Any], message: str
) -> None:
    refused = await refused_create(client, "chat", "gpt-4.1", extra)
    check_refusal(spec, refused, None, None, message)
    check_nothing_started(emulator)


async def test_every_parameter_the_sdk_sends_is_taken(client: AsyncOpenAI, spec: Spec) -> None:
    """The SDK's fields beyond the vendored spec (`background_options`), and the spec's own that the
    emulator does nothing with, are accepted, not refused as unknown."""
    answer = await client.responses.create(
        model="gpt-4.1",
        input=PROMPT,
        background=True,
        background_options={"completion_window": "soonest"},
        prompt_cache_key="rows",
        safety_identifier="user-1",
        user="user-1",
        truncation="auto",
        parallel_tool_calls=False,
        stream_options=None,
    )
    check_response(spec, answer.to_dict())
    completion = await client.chat.completions.create(
        model="gpt-4.1",
        messages=[{"role": "user", "content": PROMPT}],
        seed=7,
        n=1,
        stop=None,
        user="user-1",
        frequency_penalty=0,
        presence_penalty=0,
        max_tokens=64,
        store=False,
    )
    assert completion.choices[0].finish_reason == "stop"
