"""Function tools: the fake model calls one, the SDK parses the call, and a follow-up carrying the tool's
output (by `previous_response_id`) completes with text that quotes it, polled, streamed and resumed alike.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    FunctionToolParam,
    Response,
    ResponseFunctionToolCall,
    ResponseFunctionToolCallParam,
)
from openai.types.responses.response_input_param import FunctionCallOutput

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator
from rowrelay.tasks.emulator.model import request_digest
from rowrelay.tasks.emulator.tools import plan_call
from tests.emulator.contract import Spec, check_event, check_response
from tests.support.emulator_checks import final_body
from tests.support.sse import raw_sse

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ticket": {"type": "string", "description": "The ticket's number."},
        "priority": {"type": "string", "enum": ["low", "normal", "high"]},
        "hours": {"type": "integer", "minimum": 1, "maximum": 48},
        "score": {"type": "number"},
        "escalate": {"type": "boolean"},
    },
    "required": ["ticket", "priority", "hours", "score", "escalate"],
    "additionalProperties": False,
}
# `strict: None` leaves it to the service, which echoes whether the schema allows strict mode.
LOOKUP: FunctionToolParam = {
    "type": "function",
    "name": "lookup_ticket",
    "description": "Look a ticket up.",
    "parameters": PARAMETERS,
    "strict": None,
}
OTHER: FunctionToolParam = {
    "type": "function",
    "name": "close_ticket",
    "parameters": {"type": "object", "properties": {}},
    "strict": False,
}
LATENCY = {"x-emulator-latency": "0.2"}


def call_of(response: Any) -> ResponseFunctionToolCall:
    call = response.output[-1]
    assert isinstance(call, ResponseFunctionToolCall), response.output
    return call


async def poll(client: AsyncOpenAI, response_id: str, spec: Spec) -> Response:
    """The response once it ends (`final_body`: every body on the way checked), as the SDK parses it."""
    return check_response(spec, await final_body(client, spec, response_id))


async def test_a_background_create_with_a_function_tool_ends_in_one_function_call(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    created = await client.responses.create(
        model="gpt-4.1",
        input="Ticket 7 is late.",
        tools=[LOOKUP, OTHER],
        background=True,
        extra_headers=LATENCY,
    )
    assert created.status == "queued"
    done = await poll(client, created.id, spec)
    assert done.status == "completed"
    assert [item.type for item in done.output] == ["function_call"]
    call = call_of(done)
    assert call.name == "lookup_ticket", "the first function tool is called"
    assert call.status == "completed"
    assert call.id is not None
    assert call.id.startswith("fc_")
    assert call.call_id.startswith("call_")
    jsonschema.validate(json.loads(call.arguments), PARAMETERS)
    assert done.output_text == ""
    assert done.usage is not None
    assert done.usage.output_tokens > 0
    assert [tool.type for tool in done.tools] == ["function", "function"]


async def test_the_follow_up_with_the_tools_output_completes_with_text_quoting_it(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    first = await client.responses.create(model="gpt-4.1", input="Ticket 7?", tools=[LOOKUP], background=True)
    call = call_of(await poll(client, first.id, spec))
    output: FunctionCallOutput = {
        "type": "function_call_output",
        "call_id": call.call_id,
        "output": "ticket 7: shipped on Monday",
    }
    follow = await client.responses.create(
        model="gpt-4.1", previous_response_id=first.id, input=[output], tools=[LOOKUP], background=True
    )
    done = await poll(client, follow.id, spec)
    assert done.status == "completed"
    assert [item.type for item in done.output] == ["message"]
    assert "ticket 7: shipped on Monday" in done.output_text
    assert done.previous_response_id == first.id


async def test_arguments_are_deterministic_by_seed_and_input(client: AsyncOpenAI) -> None:
    async def arguments(prompt: str) -> str:
        response = await client.responses.create(model="gpt-4.1", input=prompt, tools=[LOOKUP])
        return call_of(response).arguments

    assert await arguments("Ticket 1") == await arguments("Ticket 1")
    drawn = {await arguments(f"Ticket {n}") for n in range(8)}
    assert len(drawn) > 1, "different inputs draw different arguments"
    config = EmulatorConfig()
    for seed in (1, 2):
        body = {"model": "gpt-4.1", "input": "Ticket 1"}
        call = plan_call(LOOKUP, seed, request_digest(body), config.max_deltas)
        jsonschema.validate(json.loads(call.arguments), PARAMETERS)


def test_arguments_are_valid_for_nested_optional_and_referenced_parameters() -> None:
    parameters = {
        "type": "object",
        "$defs": {"Contact": {"type": "object", "properties": {"email": {"type": "string"}}}},
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "contact": {"$ref": "#/$defs/Contact"},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "level": {"type": ["integer", "null"], "minimum": 3, "maximum": 5},
            "kind": {"const": "ticket"},
        },
        "required": ["tags", "contact", "note", "level", "kind"],
    }
    tool = {"type": "function", "name": "file", "parameters": parameters}
    for n in range(20):
        call = plan_call(tool, n, bytes(16), 16)
        jsonschema.validate(json.loads(call.arguments), parameters)


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "o3"])
async def test_stream_event_order_of_a_function_call(
    emulator: RunningEmulator, spec: Spec, model: str
) -> None:
    body = {"model": model, "input": "Ticket 9", "tools": [LOOKUP], "background": True, "stream": True}
    _, frames = await raw_sse(emulator.url, "POST", "/responses", json=body, headers=LATENCY)
    events = [data for _, data in frames]
    for name, data in frames:
        assert name == data["type"]
        check_event(spec, data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    head = ["response.created", "response.queued", "response.in_progress"]
    if model == "o3":
        head += ["response.output_item.added", "response.output_item.done"]
    types = [e["type"] for e in events]
    deltas = types.count("response.function_call_arguments.delta")
    assert deltas >= 1
    assert types == [
        *head,
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * deltas,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    index = 1 if model == "o3" else 0
    added, done = (
        e for e in events if e["type"].startswith("response.output_item") and e["output_index"] == index
    )
    assert added["item"]["type"] == "function_call"
    assert added["item"]["arguments"] == ""
    assert added["item"]["status"] == "in_progress"
    arguments = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    finished = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert finished["arguments"] == arguments == done["item"]["arguments"]
    assert finished["name"] == "lookup_ticket"
    assert {e["item_id"] for e in events if "item_id" in e} == {added["item"]["id"]}
    assert events[-1]["response"]["output"][index] == done["item"]
    jsonschema.validate(json.loads(arguments), PARAMETERS)


async def test_a_resumed_stream_and_the_sdk_accumulator_rebuild_the_call(
    client: AsyncOpenAI, emulator: RunningEmulator
) -> None:
    body = {"model": "gpt-4.1", "input": "Ticket 3", "tools": [LOOKUP], "background": True, "stream": True}
    _, full = await raw_sse(emulator.url, "POST", "/responses", json=body)
    response_id = full[0][1]["response"]["id"]
    stream = await client.responses.retrieve(response_id, stream=True, starting_after=4)
    assert [event.to_dict() async for event in stream] == [data for _, data in full[5:]]
    async with client.responses.stream(response_id=response_id) as replay:
        async for _ in replay:
            pass
        final = await replay.get_final_response()
    assert call_of(final).arguments == call_of(await client.responses.retrieve(response_id)).arguments


async def test_tool_choice_none_answers_in_text_and_a_named_function_is_the_one_called(
    client: AsyncOpenAI,
) -> None:
    none = await client.responses.create(model="gpt-4.1", input="hi", tools=[LOOKUP], tool_choice="none")
    assert [item.type for item in none.output] == ["message"]
    forced = await client.responses.create(
        model="gpt-4.1",
        input="hi",
        tools=[LOOKUP, OTHER],
        tool_choice={"type": "function", "name": "close_ticket"},
    )
    assert call_of(forced).name == "close_ticket"
    assert call_of(forced).arguments == "{}"


async def test_tool_outputs_must_answer_the_calls_as_the_service_requires(client: AsyncOpenAI) -> None:
    first = await client.responses.create(model="gpt-4.1", input="Ticket 2", tools=[LOOKUP])
    call = call_of(first)
    with pytest.raises(openai.BadRequestError, match="No tool output found for function call") as missing:
        await client.responses.create(model="gpt-4.1", previous_response_id=first.id, input="and?")
    assert missing.value.param == "input"
    stray: FunctionCallOutput = {"type": "function_call_output", "call_id": "call_nope", "output": "x"}
    with pytest.raises(openai.BadRequestError, match="No tool call found for function call output"):
        await client.responses.create(model="gpt-4.1", previous_response_id=first.id, input=[stray])
    # Stateless: the call travels in the input next to its output, with no previous_response_id.
    resent: ResponseFunctionToolCallParam = {
        "type": "function_call",
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.arguments,
    }
    answer: FunctionCallOutput = {"type": "function_call_output", "call_id": call.call_id, "output": "done"}
    stateless = await client.responses.create(model="gpt-4.1", input=[resent, answer], tools=[LOOKUP])
    assert "done" in stateless.output_text
