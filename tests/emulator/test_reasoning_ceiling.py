"""A reasoning model under an output ceiling: `max_output_tokens` (Chat Completions: `max_completion_tokens`,
or the deprecated `max_tokens`) bounds the tokens generated, "including visible output tokens and
reasoning tokens", as OpenAI documents it. The model reasons first: a ceiling its reasoning reaches ends
the response `incomplete` with every token spent on reasoning and nothing written (no message item; a chat
completion's content is empty, its finish reason `length`); a ceiling that leaves room cuts the answer to
the room; a plan that fits is answered as if there were no ceiling. Polled, streamed and fetched after a
stream, one answer with one usage."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from tests.emulator.contract import Spec, check_event, check_response
from tests.support.emulator_checks import PROMPT, final_body
from tests.support.logprobs import JSON_TEXT

CEILING = 100
ROWS = [f"{PROMPT} ({n})" for n in range(12)]
"""At o4-mini's high effort and a ceiling of 100 (seed 0), most of these rows spend the whole ceiling
reasoning, one is cut short after reasoning and three fit: `_regime` tells which, and each test checks
that all three occur."""
REASONING: dict[str, Any] = {"model": "o4-mini", "reasoning": {"effort": "high"}}
Regime = Literal["spent", "cut", "fits"]


def _regime(free_usage: dict[str, Any], ceiling: int) -> Regime:
    """What a ceiling does to the answer the same request gets with none (its usage given)."""
    if free_usage["output_tokens"] <= ceiling:
        return "fits"
    return "spent" if free_usage["output_tokens_details"]["reasoning_tokens"] >= ceiling else "cut"


def _texts(payload: dict[str, Any]) -> str:
    """The response's output text, as the SDK's `output_text` joins it."""
    return "".join(
        part.get("text", part.get("refusal", ""))
        for item in payload["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


def _check_usage(usage: dict[str, Any], ceiling: int) -> None:
    reasoning = usage["output_tokens_details"]["reasoning_tokens"]
    assert 0 <= reasoning <= usage["output_tokens"] <= ceiling, usage
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def _check_against_free(limited: dict[str, Any], free: dict[str, Any], ceiling: int) -> Regime:
    """A response under `ceiling` against the same request's with none; which regime it was in."""
    usage, free_usage = limited["usage"], free["usage"]
    _check_usage(usage, ceiling)
    regime = _regime(free_usage, ceiling)
    reasoning = usage["output_tokens_details"]["reasoning_tokens"]
    if regime == "fits":
        assert limited["status"] == free["status"] == "completed"
        assert limited["incomplete_details"] is None
        assert usage == free_usage
        assert _texts(limited) == _texts(free)
        assert [item["type"] for item in limited["output"]] == [item["type"] for item in free["output"]]
        return regime
    assert limited["status"] == "incomplete"
    assert limited["incomplete_details"] == {"reason": "max_output_tokens"}
    if regime == "spent":
        assert reasoning == usage["output_tokens"] == ceiling
        assert [item["type"] for item in limited["output"]] == ["reasoning"], "nothing was written"
        assert _texts(limited) == ""
    else:
        assert reasoning == free_usage["output_tokens_details"]["reasoning_tokens"], "reasoning comes first"
        assert usage["output_tokens"] == ceiling
        assert [item["type"] for item in limited["output"]] == ["reasoning", "message"]
        assert limited["output"][-1]["status"] == "incomplete"
        words = _texts(limited).split()
        assert len(words) == ceiling - reasoning, "a drawn word is one token"
        assert words == _texts(free).split()[: len(words)], "the answer's first words, cut"
    return regime


async def test_a_polled_response_never_generates_more_than_max_output_tokens(
    client: AsyncOpenAI, spec: Spec
) -> None:
    regimes: set[Regime] = set()
    for prompt in ROWS:
        body = {**REASONING, "input": prompt, "background": True}
        free = await client.responses.create(**body)
        limited = await client.responses.create(**body, max_output_tokens=CEILING)
        free_body = await final_body(client, spec, free.id)
        limited_body = await final_body(client, spec, limited.id)
        regimes.add(_check_against_free(limited_body, free_body, CEILING))
        again = await client.responses.with_raw_response.retrieve(limited.id)
        assert again.http_response.json() == limited_body, "a later GET says the same"
    assert regimes == {"spent", "cut", "fits"}


async def test_a_streamed_response_sends_only_what_its_final_object_holds(
    client: AsyncOpenAI, spec: Spec
) -> None:
    """No item, part or text delta for an answer that was never written; the deltas join to the final
    text; the terminal event's response (usage included) is what a GET returns afterwards."""
    regimes: set[Regime] = set()
    for prompt in ROWS:
        body = {**REASONING, "input": prompt}
        free = check_response(
            spec, (await client.responses.with_raw_response.create(**body)).http_response.json()
        )
        stream = await client.responses.create(**body, max_output_tokens=CEILING, stream=True)
        events: list[dict[str, Any]] = [event.to_dict() async for event in stream]
        for event in events:
            check_event(spec, event)
        assert [event["sequence_number"] for event in events] == list(range(len(events)))
        terminal = events[-1]
        final = terminal["response"]
        assert terminal["type"] == f"response.{final['status']}"
        assert free.usage is not None
        regimes.add(_check_against_free(final, free.to_dict(), CEILING))
        added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
        done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        assert added == [item["type"] for item in final["output"]]
        assert done == final["output"]
        deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
        assert "".join(deltas) == _texts(final)
        if not _texts(final):
            assert not [e for e in events if e["type"].startswith("response.content_part.")]
            assert not [e for e in events if e["type"].startswith("response.output_text.")]
        fetched = await client.responses.with_raw_response.retrieve(final["id"])
        body_after = fetched.http_response.json()
        check_response(spec, body_after)
        assert body_after == final, "the terminal event and a later GET agree, usage included"
    assert regimes == {"spent", "cut", "fits"}


_ANSWERS: dict[str, dict[str, Any]] = {
    "function-call": {
        "tools": [
            {
                "type": "function",
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            }
        ],
        "tool_choice": "required",
    },
    "json": {"text": JSON_TEXT},
    "refusal": {"extra_headers": {"x-emulator-fault": "refusal"}},
}


@pytest.mark.parametrize(
    ("model", "answer"), [*(("o4-mini", answer) for answer in _ANSWERS), ("gpt-4.1", "json")]
)
async def test_every_kind_of_answer_fits_under_the_ceiling(
    client: AsyncOpenAI, spec: Spec, model: str, answer: str
) -> None:
    """A function call's arguments, JSON and a refusal are counted by their characters, not by the words
    planned: they are cut to the ceiling all the same (JSON's first piece alone may be longer than 16
    tokens, even without reasoning), and a reasoning model that spent it all writes no item at all."""
    effort = {"reasoning": {"effort": "high"}} if model == "o4-mini" else {}
    seen: set[str] = set()
    for prompt in ROWS[:6]:
        fields: dict[str, Any] = {"model": model, "input": prompt, **effort, **_ANSWERS[answer]}
        raw = await client.responses.with_raw_response.create(**fields, max_output_tokens=16)
        payload = raw.http_response.json()
        check_response(spec, payload)
        _check_usage(payload["usage"], 16)
        types = [item["type"] for item in payload["output"]]
        seen.add(" ".join(types))
        if payload["usage"]["output_tokens_details"]["reasoning_tokens"] == 16:
            assert payload["status"] == "incomplete"
            assert types == ["reasoning"]
        stream = await client.responses.create(**fields, max_output_tokens=16, stream=True)
        events = [event.to_dict() async for event in stream]
        fetched = await client.responses.with_raw_response.retrieve(events[-1]["response"]["id"])
        assert fetched.http_response.json() == events[-1]["response"]
        assert events[-1]["response"]["usage"] == payload["usage"]
    if model == "o4-mini":
        assert seen == {"reasoning"}, "high effort spends at least 16 tokens reasoning, every time"
    else:
        assert seen == {"message"}, "gpt-4.1 writes the start of its JSON"


def _chat_usage(completion: ChatCompletion) -> dict[str, Any]:
    """A completion's usage in the Responses API's names, for `_regime` and `_check_usage`."""
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    return {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.completion_tokens_details.reasoning_tokens},
    }


async def test_a_chat_completion_never_generates_more_than_its_ceiling(client: AsyncOpenAI) -> None:
    """The same rule on Chat Completions: `completion_tokens` (reasoning included) within the ceiling, finish
    reason `length` and empty content once reasoning spent it; the stream's deltas and usage are the
    completion's. The ceiling is `max_completion_tokens`: a reasoning model refuses the deprecated
    `max_tokens` (test_field_values.py)."""
    regimes: set[Regime] = set()
    for prompt in ROWS:
        body: dict[str, Any] = {
            "model": "o4-mini",
            "reasoning_effort": "high",
            "messages": [{"role": "user", "content": prompt}],
        }
        free = await client.chat.completions.create(**body)
        capped: dict[str, Any] = {**body, "max_completion_tokens": CEILING}
        limited = await client.chat.completions.create(**capped)
        usage, free_usage = _chat_usage(limited), _chat_usage(free)
        _check_usage(usage, CEILING)
        regime = _regime(free_usage, CEILING)
        regimes.add(regime)
        (choice,) = limited.choices
        text, free_text = choice.message.content, free.choices[0].message.content
        assert free_text
        reasoning = usage["output_tokens_details"]["reasoning_tokens"]
        if regime == "fits":
            assert (choice.finish_reason, text, usage) == ("stop", free_text, free_usage)
        elif regime == "spent":
            assert (choice.finish_reason, text) == ("length", "")
            assert reasoning == usage["output_tokens"] == CEILING
        else:
            assert choice.finish_reason == "length"
            assert text is not None
            assert text.split() == free_text.split()[: CEILING - reasoning]
            assert usage["output_tokens"] == CEILING
        stream = await client.chat.completions.create(
            **capped, stream=True, stream_options={"include_usage": True}
        )
        *chunks, tail = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
        assert chunks[-1].choices[0].finish_reason == choice.finish_reason
        assert (tail.choices, tail.usage) == ([], limited.usage)
    assert regimes == {"spent", "cut", "fits"}
