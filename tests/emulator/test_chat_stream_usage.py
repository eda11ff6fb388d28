"""A streamed chat completion asked for its usage (`stream_options: {"include_usage": true}`) reports it as
the spec says: every chunk carries `usage: null`, and one more chunk, after the one that ends the choice
and before `[DONE]`, has no choices and carries the usage. Without the ask no chunk has a `usage`."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.emulator.contract import Spec
from tests.support.emulator_checks import PROMPT

MESSAGES: Any = [{"role": "user", "content": PROMPT}]
TOOL: Any = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


async def _chunks(client: AsyncOpenAI, spec: Spec, **fields: Any) -> list[dict[str, Any]]:
    """Each chunk of a streamed gpt-4.1 completion of PROMPT with `fields`, as sent (a key sent as null is
    kept), checked against the spec."""
    stream = await client.chat.completions.create(model="gpt-4.1", messages=MESSAGES, stream=True, **fields)
    chunks = [chunk.to_dict() async for chunk in stream]
    for chunk in chunks:
        spec.check("CreateChatCompletionStreamResponse", chunk)
    return chunks


@pytest.mark.parametrize(
    "fields", [pytest.param({}, id="text"), pytest.param({"tools": [TOOL]}, id="tool-call")]
)
async def test_the_usage_comes_in_a_last_chunk_of_its_own_with_no_choices(
    client: AsyncOpenAI, spec: Spec, fields: dict[str, Any]
) -> None:
    chunks = await _chunks(client, spec, stream_options={"include_usage": True}, **fields)
    *answer, last = chunks
    assert all("usage" in chunk and chunk["usage"] is None for chunk in answer), "every other chunk: null"
    assert all(len(chunk["choices"]) == 1 for chunk in answer)
    assert answer[-1]["choices"][0]["finish_reason"] in ("stop", "tool_calls"), "the choice ends before it"
    assert last["choices"] == []
    assert last["id"] == answer[0]["id"]
    usage = last["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    completion = await client.chat.completions.create(model="gpt-4.1", messages=MESSAGES, **fields)
    assert completion.usage is not None
    assert usage == completion.usage.to_dict(), "the same request reports the same usage"


async def test_without_the_ask_no_chunk_has_a_usage(client: AsyncOpenAI, spec: Spec) -> None:
    for fields in ({}, {"stream_options": {"include_usage": False}}):
        chunks = await _chunks(client, spec, **fields)
        assert all("usage" not in chunk for chunk in chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
