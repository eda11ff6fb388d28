"""Token logprobs on Chat Completions: `logprobs: true` lists the content's tokens (a refusal's under
`refusal`) with `top_logprobs` alternatives each, whole and chunk by chunk, as the spec and the SDK type
them; and the same answer text has the same numbers on the Responses API."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.chat.chat_completion import ChoiceLogprobs
from openai.types.chat.chat_completion_token_logprob import ChatCompletionTokenLogprob

from tests.emulator.contract import Spec, check_response
from tests.support.emulator_checks import PROMPT
from tests.support.logprobs import INCLUDE, check_logprobs, joined

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]


async def _streamed(
    client: AsyncOpenAI, spec: Spec, **fields: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The chunks of a streamed gpt-4.1 chat completion of PROMPT asking for logprobs, with `fields`,
    each checked against the spec, and the usage of the extra last chunk (no choices) that carries it."""
    stream = await client.chat.completions.create(
        model="gpt-4.1",
        messages=MESSAGES,
        logprobs=True,
        stream=True,
        stream_options={"include_usage": True},
        **fields,
    )
    chunks: list[dict[str, Any]] = [chunk.to_dict() async for chunk in stream]
    for chunk in chunks:
        spec.check("CreateChatCompletionStreamResponse", chunk)
    *answer, tail = chunks
    assert tail["choices"] == []
    return answer, tail["usage"]


async def _completion(client: AsyncOpenAI, spec: Spec, **fields: Any) -> dict[str, Any]:
    """A gpt-4.1 chat completion of PROMPT with `fields`, checked against the spec and parsed by the SDK."""
    fields = {"model": "gpt-4.1", "messages": MESSAGES, **fields}
    raw = await client.chat.completions.with_raw_response.create(**fields)
    payload: dict[str, Any] = raw.http_response.json()
    spec.check("CreateChatCompletionResponse", payload)
    logprobs = raw.parse().choices[0].logprobs
    if payload["choices"][0]["logprobs"] is not None:
        assert isinstance(logprobs, ChoiceLogprobs)
        assert all(isinstance(entry, ChatCompletionTokenLogprob) for entry in logprobs.content or ())
    return payload


@pytest.mark.parametrize("top", [None, 0, 2, 20])
async def test_a_completion_asked_for_logprobs_lists_its_contents_tokens(
    client: AsyncOpenAI, spec: Spec, top: int | None
) -> None:
    payload = await _completion(client, spec, logprobs=True, top_logprobs=top)
    choice = payload["choices"][0]
    assert choice["logprobs"]["refusal"] is None
    entries = choice["logprobs"]["content"]
    check_logprobs(entries, choice["message"]["content"], top or 0)
    assert len(entries) == payload["usage"]["completion_tokens"]


@pytest.mark.parametrize("fields", [{}, {"logprobs": False}], ids=["nothing", "logprobs-false"])
async def test_without_logprobs_the_choice_has_none(
    client: AsyncOpenAI, spec: Spec, fields: dict[str, Any]
) -> None:
    payload = await _completion(client, spec, **fields)
    assert payload["choices"][0]["logprobs"] is None


async def test_a_refusal_lists_its_tokens_under_refusal(client: AsyncOpenAI, spec: Spec) -> None:
    payload = await _completion(
        client, spec, logprobs=True, top_logprobs=1, extra_headers={"x-emulator-fault": "refusal"}
    )
    choice = payload["choices"][0]
    assert choice["logprobs"]["content"] is None
    check_logprobs(choice["logprobs"]["refusal"], choice["message"]["refusal"], 1)
    assert len(choice["logprobs"]["refusal"]) == payload["usage"]["completion_tokens"]


async def test_a_function_call_has_no_tokens_to_list(client: AsyncOpenAI, spec: Spec) -> None:
    tool: ChatCompletionToolParam = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    payload = await _completion(client, spec, logprobs=True, tools=[tool], tool_choice="required")
    choice = payload["choices"][0]
    assert choice["message"]["tool_calls"]
    assert choice["logprobs"] == {"content": None, "refusal": None}


async def test_each_streamed_chunk_carries_its_own_tokens(client: AsyncOpenAI, spec: Spec) -> None:
    whole = await _completion(client, spec, logprobs=True, top_logprobs=3)
    chunks, usage = await _streamed(client, spec, top_logprobs=3)
    first, *middle, last = [chunk["choices"][0] for chunk in chunks]
    assert first["delta"]["content"] == ""
    assert first["logprobs"] == {"content": [], "refusal": None}
    assert last["finish_reason"] == "stop"
    assert last["logprobs"] is None
    assert len(middle) > 1
    for choice in middle:
        check_logprobs(choice["logprobs"]["content"], choice["delta"]["content"], 3)
    streamed = joined([choice["logprobs"]["content"] for choice in middle])
    assert streamed == whole["choices"][0]["logprobs"]["content"], "the same numbers, whole or streamed"
    assert len(streamed) == usage["completion_tokens"]


async def test_a_streamed_refusal_carries_each_chunks_tokens_under_refusal(
    client: AsyncOpenAI, spec: Spec
) -> None:
    """The refusal's deltas end inside its text, which is cut four characters a token: a cut gives way."""
    chunks, usage = await _streamed(
        client, spec, top_logprobs=1, extra_headers={"x-emulator-fault": "refusal"}
    )
    middle = [chunk["choices"][0] for chunk in chunks[1:-1]]
    assert len(middle) > 1
    for choice in middle:
        assert choice["logprobs"]["content"] is None
        check_logprobs(choice["logprobs"]["refusal"], choice["delta"]["refusal"], 1)
    streamed = joined([choice["logprobs"]["refusal"] for choice in middle])
    assert len(streamed) == usage["completion_tokens"]


async def test_the_same_answer_text_has_the_same_logprobs_on_both_apis(
    client: AsyncOpenAI, spec: Spec
) -> None:
    """A schema with one possible value gets the same JSON text on both routes, whatever the prompt."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["urgent"]}},
        "required": ["label"],
        "additionalProperties": False,
    }
    chat = await _completion(
        client,
        spec,
        logprobs=True,
        top_logprobs=2,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "label", "schema": schema, "strict": True},
        },
    )
    raw = await client.responses.with_raw_response.create(
        model="gpt-4.1",
        input=PROMPT,
        text={"format": {"type": "json_schema", "name": "label", "schema": schema, "strict": True}},
        top_logprobs=2,
        include=[INCLUDE],
    )
    payload = raw.http_response.json()
    check_response(spec, payload)
    part = payload["output"][0]["content"][0]
    assert part["text"] == chat["choices"][0]["message"]["content"] == '{"label":"urgent"}'
    assert part["logprobs"] == chat["choices"][0]["logprobs"]["content"]
    check_logprobs(part["logprobs"], part["text"], 2)
    assert len(part["logprobs"]) == payload["usage"]["output_tokens"] == 5, "18 characters, four a token"
