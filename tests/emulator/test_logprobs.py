"""Token logprobs on the Responses API, answered whole and polled: shown when a create's (or a GET's own)
`include` asks, each `output_text` part listing its text's tokens with the create's `top_logprobs`
alternatives, as many tokens as the usage counts, the same on every look; and the 400s for a
`top_logprobs` out of range, of the wrong type or sent to a reasoning model, on both create routes."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import ResponseIncludable
from openai.types.responses.response_output_text import Logprob

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.emulator.contract import Spec, check_response
from tests.support.clock import ManualClock
from tests.support.emulator_checks import (
    PROMPT,
    Route,
    check_nothing_started,
    check_refusal,
    refused_create,
)
from tests.support.logprobs import INCLUDE, JSON_TEXT, check_logprobs
from tests.support.sse import ClientFactory
from tests.support.web_search import WEB_SEARCH, text_part


async def _answer(client: AsyncOpenAI, spec: Spec, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A gpt-4.1 create of `fields` (PROMPT unless `input` is given), its body checked against the spec and
    parsed by the SDK: the body, and its message's one content part as sent."""
    fields = {"model": "gpt-4.1", "input": PROMPT, **fields}
    raw = await client.responses.with_raw_response.create(**fields)
    payload: dict[str, Any] = raw.http_response.json()
    check_response(spec, payload)
    (part,) = payload["output"][-1]["content"]
    return payload, part


def _answered_tokens(payload: dict[str, Any]) -> int:
    usage = payload["usage"]
    return int(usage["output_tokens"] - usage["output_tokens_details"]["reasoning_tokens"])


@pytest.mark.parametrize("top", [0, 1, 5, 20])
async def test_an_included_answer_lists_its_tokens_with_the_alternatives_asked_for(
    client: AsyncOpenAI, spec: Spec, top: int
) -> None:
    payload, part = await _answer(client, spec, top_logprobs=top, include=[INCLUDE])
    response = check_response(spec, payload)
    assert response.top_logprobs == top, "the create's top_logprobs is echoed"
    typed = text_part(response)
    assert typed.logprobs is not None
    assert all(isinstance(entry, Logprob) for entry in typed.logprobs)
    entries = part["logprobs"]
    first = check_logprobs(entries, part["text"], top)
    assert len(entries) == _answered_tokens(payload), "one entry per output token of an ordinary answer"
    if top:
        assert first >= 0.8 * len(entries), "the chosen token is mostly the most likely one"


async def test_most_tokens_are_near_certain_some_are_not_and_a_few_were_not_the_likeliest(
    client: AsyncOpenAI, spec: Spec
) -> None:
    logprobs: list[float] = []
    second = 0
    for n in range(8):
        _, part = await _answer(client, spec, input=f"Ticket {n}", top_logprobs=2, include=[INCLUDE])
        logprobs += [entry["logprob"] for entry in part["logprobs"]]
        second += len(part["logprobs"]) - check_logprobs(part["logprobs"], part["text"], 2)
    near = sum(logprob > -0.1 for logprob in logprobs)
    assert near >= 0.7 * len(logprobs), "a confident model"
    assert min(logprobs) < -1, "that is sometimes unsure"
    assert 0 < second < 0.1 * len(logprobs), "and now and then wrote its second most likely token"


async def test_an_identical_create_gets_identical_logprobs(client: AsyncOpenAI, spec: Spec) -> None:
    _, once = await _answer(client, spec, top_logprobs=4, include=[INCLUDE])
    _, again = await _answer(client, spec, top_logprobs=4, include=[INCLUDE])
    _, other = await _answer(client, spec, input="Another ticket", top_logprobs=4, include=[INCLUDE])
    assert once["logprobs"] == again["logprobs"]
    assert [e["logprob"] for e in once["logprobs"]] != [e["logprob"] for e in other["logprobs"]]
    _, fewer = await _answer(client, spec, top_logprobs=1, include=[INCLUDE])
    assert [(e["token"], e["logprob"]) for e in fewer["logprobs"]] == [
        (e["token"], e["logprob"]) for e in once["logprobs"]
    ], "asking for fewer alternatives changes no token's logprob"
    assert [e["top_logprobs"] for e in fewer["logprobs"]] == [e["top_logprobs"][:1] for e in once["logprobs"]]


@pytest.mark.parametrize(
    "fields",
    [{}, {"top_logprobs": 5}, {"include": ["reasoning.encrypted_content"]}],
    ids=["nothing", "top_logprobs", "another-include"],
)
async def test_without_the_include_every_part_keeps_empty_logprobs(
    client: AsyncOpenAI, spec: Spec, fields: dict[str, Any]
) -> None:
    payload, part = await _answer(client, spec, **fields)
    assert part["logprobs"] == []
    assert payload["top_logprobs"] == fields.get("top_logprobs", 0), "echoed, 0 when none was asked"


@pytest.mark.parametrize("model", ["o3", "gpt-5-mini"])
async def test_a_reasoning_model_asked_through_the_include_alone_answers_with_empty_logprobs(
    client: AsyncOpenAI, spec: Spec, model: str
) -> None:
    payload, part = await _answer(client, spec, model=model, include=[INCLUDE])
    assert part["type"] == "output_text"
    assert part["text"]
    assert part["logprobs"] == []
    assert payload["top_logprobs"] == 0


async def test_a_get_shows_the_logprobs_when_its_own_include_asks_whatever_the_create_asked(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    _, shown = await _answer(client, spec, top_logprobs=3, include=[INCLUDE])
    includes: list[list[ResponseIncludable]] = [[], [INCLUDE]]
    for include in includes:
        created = await client.responses.create(
            model="gpt-4.1", input=PROMPT, top_logprobs=3, include=include
        )
        raw = await client.responses.with_raw_response.retrieve(created.id, include=[INCLUDE])
        assert "include%5B%5D=message.output_text.logprobs" in str(raw.http_request.url)
        payload = raw.http_response.json()
        check_response(spec, payload)
        assert payload["output"][0]["content"][0]["logprobs"] == shown["logprobs"]
        bare = await client.responses.retrieve(created.id)
        assert text_part(bare).logprobs == [], "a GET without the include shows none"
        async with httpx.AsyncClient(base_url=emulator.url) as http:  # the plain `include` spelling too
            plain = (await http.get(f"/responses/{created.id}", params={"include": INCLUDE})).json()
        assert plain["output"][0]["content"][0]["logprobs"] == shown["logprobs"]


async def test_a_poll_mid_answer_shows_the_logprobs_of_the_text_so_far(
    make_client: ClientFactory, spec: Spec
) -> None:
    clock = ManualClock()
    seen: list[list[dict[str, Any]]] = []
    statuses: list[str] = []
    with running_emulator(EmulatorConfig(), clock=clock) as emu:
        client = make_client(emu)
        created = await client.responses.create(
            model="gpt-4.1",
            input=PROMPT,
            background=True,
            top_logprobs=2,
            extra_headers={"x-emulator-latency": "10"},
        )
        record = emu.emulator.records[created.id]
        for entry in record.entries:
            if entry.kind != "delta":
                continue
            # A microsecond after each delta: started + offset, in floats, may fall a hair before it.
            clock.advance(record.started + entry.offset + 1e-6 - clock.monotonic())
            raw = await client.responses.with_raw_response.retrieve(created.id, include=[INCLUDE])
            payload = raw.http_response.json()
            check_response(spec, payload)
            (part,) = payload["output"][0]["content"]
            check_logprobs(part["logprobs"], part["text"], 2)
            seen.append(part["logprobs"])
            statuses.append(payload["status"])
    assert statuses[0] == "in_progress"
    assert statuses[-1] == "completed", "the last delta ends the work"
    assert len(seen) > 1
    assert [len(entries) for entries in seen] == sorted({len(entries) for entries in seen})
    assert all(entries == seen[-1][: len(entries)] for entries in seen), "each look extends the one before"


_TOOL_ROUND: list[dict[str, Any]] = [
    {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "ticket 7: shipped on Monday"},
]
_TEXTS: dict[str, dict[str, Any]] = {
    "json": {"text": JSON_TEXT},
    "json-cut-short": {"text": JSON_TEXT, "max_output_tokens": 16},
    "web-search-links": {"tools": [WEB_SEARCH]},
    "after-a-tool-round": {},
    "cut-short": {"max_output_tokens": 16},
}


@pytest.mark.parametrize("kind", _TEXTS)
async def test_any_answer_text_has_as_many_tokens_as_its_usage_counts(
    client: AsyncOpenAI, spec: Spec, kind: str
) -> None:
    """Drawn words are a token each, other text (JSON, links, the sentence on a tool's output) about four
    characters a token: the tokens follow the count either way, and join to the text."""
    for n in range(6):
        prompt: Any = f"{PROMPT} ({n})"
        if kind == "after-a-tool-round":
            prompt = [{"type": "message", "role": "user", "content": prompt}, *_TOOL_ROUND]
        payload, part = await _answer(
            client, spec, input=prompt, top_logprobs=1, include=[INCLUDE], **_TEXTS[kind]
        )
        check_logprobs(part["logprobs"], part["text"], 1)
        assert len(part["logprobs"]) == _answered_tokens(payload), part["text"]
        if kind == "web-search-links":
            assert "([example.com](" in part["text"]
        if kind == "after-a-tool-round":
            assert part["text"].startswith("The tool returned ticket 7")


async def test_a_refusal_part_has_no_logprobs(client: AsyncOpenAI, spec: Spec) -> None:
    _, part = await _answer(
        client, spec, top_logprobs=2, include=[INCLUDE], extra_headers={"x-emulator-fault": "refusal"}
    )
    assert part["type"] == "refusal"
    assert "logprobs" not in part, "the spec's RefusalContent has none"


_BELOW = "Invalid 'top_logprobs': integer below minimum value. Expected a value >= 0, but got -1 instead."
_ABOVE = "Invalid 'top_logprobs': integer above maximum value. Expected a value <= 20, but got 21 instead."
_UNSUPPORTED = "Unsupported parameter: '{param}' is not supported with this model."
_NOT_AN_INTEGER = "Invalid type for 'top_logprobs': expected an integer, but got {} instead."
_ONLY_WITH_LOGPROBS = "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled."
_RANGE_AND_TYPE: list[tuple[Any, str, str]] = [
    (-1, "integer_below_min_value", _BELOW),
    (21, "integer_above_max_value", _ABOVE),
    ("3", "invalid_type", _NOT_AN_INTEGER.format("a string")),
    (2.5, "invalid_type", _NOT_AN_INTEGER.format("a decimal number")),
    (True, "invalid_type", _NOT_AN_INTEGER.format("a boolean")),
]
_CHAT_ONLY: list[tuple[str, dict[str, Any], str, str | None, str]] = [
    ("gpt-4.1", {"top_logprobs": 2}, "top_logprobs", None, _ONLY_WITH_LOGPROBS),
    ("gpt-4.1", {"logprobs": False, "top_logprobs": 0}, "top_logprobs", None, _ONLY_WITH_LOGPROBS),
    ("gpt-4.1", {"logprobs": "yes"}, "logprobs", "invalid_type", "Invalid type for 'logprobs': expected a "
     "boolean, but got a string instead."),
    ("o3", {"logprobs": True}, "logprobs", "unsupported_parameter", _UNSUPPORTED),
    ("gpt-5-mini", {"logprobs": True, "top_logprobs": 2}, "logprobs", "unsupported_parameter", _UNSUPPORTED),
]  # fmt: skip


def _refusals() -> list[Any]:
    cases: list[Any] = []
    for route in ("responses", "chat"):
        asked = {"logprobs": True} if route == "chat" else {}
        for top, code, message in _RANGE_AND_TYPE:
            cases.append((route, "gpt-4.1", {**asked, "top_logprobs": top}, "top_logprobs", code, message))
        for model in ("o3", "gpt-5-mini", "o4-mini-deep-research"):
            fields = {"top_logprobs": 0} if route == "responses" else {"top_logprobs": 3}
            cases.append((route, model, fields, "top_logprobs", "unsupported_parameter", _UNSUPPORTED))
    cases += [("chat", *case) for case in _CHAT_ONLY]
    return [pytest.param(*case, id=f"{case[0]}-{case[1]}-{sorted(case[2].items())}") for case in cases]


@pytest.mark.parametrize(("route", "model", "fields", "param", "code", "message"), _refusals())
async def test_top_logprobs_out_of_range_of_the_wrong_type_or_to_a_reasoning_model_is_refused(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    route: Route,
    model: str,
    fields: dict[str, Any],
    param: str,
    code: str | None,
    message: str,
) -> None:
    exc = await refused_create(client, route, model, fields)
    check_refusal(spec, exc, param, code, message)
    check_nothing_started(emulator)


async def test_an_accepted_top_logprobs_still_refuses_nothing_else(client: AsyncOpenAI) -> None:
    """The edges of the range, and null, are accepted on both routes (o3 takes a null, and no logprobs)."""
    for top in (0, 20, None):
        await client.responses.create(model="gpt-4.1", input=PROMPT, top_logprobs=top)
        await client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": PROMPT}], logprobs=True, top_logprobs=top
        )
    await client.responses.create(model="o3", input=PROMPT, top_logprobs=None)
    with pytest.raises(openai.BadRequestError):  # the control: the same create with a count is refused
        await client.responses.create(model="o3", input=PROMPT, top_logprobs=0)
    done = await client.chat.completions.create(
        model="o3", messages=[{"role": "user", "content": PROMPT}], logprobs=False
    )
    assert done.choices[0].logprobs is None
