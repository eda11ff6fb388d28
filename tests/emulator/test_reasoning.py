"""Reasoning effort: `reasoning.effort` on the Responses API and `reasoning_effort` on Chat Completions are
refused where OpenAI refuses them (in its words), echoed as the effort the model worked at, and spent as
reasoning tokens in proportion to the effort."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.shared import ReasoningEffort

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec, check_event, check_response
from tests.support.emulator_checks import (
    PROMPT,
    ROUTES,
    Route,
    azure_client,
    check_nothing_started,
    check_refusal,
    refused_create,
)

ALL_EFFORTS: tuple[ReasoningEffort, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
O_SERIES_EFFORTS: tuple[ReasoningEffort, ...] = ("low", "medium", "high")
ENUM = "'none', 'minimal', 'low', 'medium', 'high', 'xhigh', and 'max'"


def scaled(medium: int, effort: ReasoningEffort) -> int:
    """Reasoning tokens at `effort`, given the same prompt's at medium: none 0, minimal a quarter, low half,
    high twice, xhigh three times and max four times, rounded down."""
    quarters = {"none": 0, "minimal": 1, "low": 2, "medium": 4, "high": 8, "xhigh": 12, "max": 16}
    assert effort is not None
    return medium * quarters[effort] // 4


# (model, effort as sent, code, message); the param is `reasoning.effort` or `reasoning_effort`.
EFFORT_REFUSALS = [
    pytest.param(
        "gpt-5",
        "extreme",
        "invalid_value",
        f"Invalid value: 'extreme'. Supported values are: {ENUM}.",
        id="not-in-the-enum",
    ),
    pytest.param(
        "o3",
        3,
        "invalid_type",
        "Invalid type for '{param}': expected a string, but got an integer instead.",
        id="not-a-string",
    ),
    pytest.param(
        "gpt-4.1-mini",
        "low",
        "unsupported_parameter",
        "Unsupported parameter: '{param}' is not supported with this model.",
        id="not-a-reasoning-model",
    ),
    pytest.param(
        "o3",
        "none",
        "unsupported_value",
        "Unsupported value: '{param}' does not support 'none' with this model. "
        "Supported values are: 'low', 'medium', and 'high'.",
        id="o-series-none",
    ),
    pytest.param(
        "o4-mini",
        "xhigh",
        "unsupported_value",
        "Unsupported value: '{param}' does not support 'xhigh' with this model. "
        "Supported values are: 'low', 'medium', and 'high'.",
        id="o-series-xhigh",
    ),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("model", "effort", "code", "message"), EFFORT_REFUSALS)
async def test_an_effort_the_model_does_not_take_is_refused_in_openais_words(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    route: Route,
    model: str,
    effort: object,
    code: str,
    message: str,
) -> None:
    """Responses takes the effort in its `reasoning` object, Chat Completions as `reasoning_effort`: the
    same refusals, each naming the parameter as its route spells it."""
    fields: dict[str, Any]
    if route == "responses":
        fields, param = {"reasoning": {"effort": effort}}, "reasoning.effort"
    else:
        fields, param = {"reasoning_effort": effort}, "reasoning_effort"
    check_refusal(spec, await refused_create(client, route, model, fields), param, code, message)
    check_nothing_started(emulator)


async def test_a_reasoning_that_is_not_an_object_is_refused(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="gpt-5", input=PROMPT, extra_body={"reasoning": "high"})
    message = "Invalid type for 'reasoning': expected an object, but got a string instead."
    check_refusal(spec, caught.value, "reasoning", "invalid_type", message)
    assert emulator.emulator.records == {}


async def test_the_azure_routes_refuse_an_effort_as_the_v1_routes_do(
    emulator: RunningEmulator, spec: Spec
) -> None:
    async with azure_client(emulator.url.removesuffix("/v1"), api_key="k") as azure:
        with pytest.raises(openai.BadRequestError) as caught:
            await azure.responses.create(model="o3", input=PROMPT, reasoning={"effort": "minimal"})
    message = (
        "Unsupported value: 'reasoning.effort' does not support 'minimal' with this model. "
        "Supported values are: 'low', 'medium', and 'high'."
    )
    check_refusal(spec, caught.value, "reasoning.effort", "unsupported_value", message)
    assert emulator.emulator.stats()["routes"]["POST /openai/responses"] == 1


@pytest.mark.parametrize(
    ("model", "reasoning", "echoed"),
    [
        pytest.param("o3", None, {"effort": "medium", "summary": None}, id="o-series-default"),
        pytest.param("o3", {"effort": "high"}, {"effort": "high", "summary": None}, id="o3-high"),
        pytest.param(
            "gpt-5", {"summary": "detailed"}, {"effort": "medium", "summary": "detailed"}, id="gpt-5-summary"
        ),
        pytest.param("gpt-5.1", {"effort": "none"}, {"effort": "none", "summary": None}, id="gpt-5.1-none"),
        pytest.param("gpt-5", {"effort": "max"}, {"effort": "max", "summary": None}, id="gpt-5-max"),
        pytest.param("gpt-4.1-mini", {}, {"effort": None, "summary": None}, id="not-reasoning-empty"),
        pytest.param(
            "gpt-4.1-mini", {"effort": None}, {"effort": None, "summary": None}, id="not-reasoning-null"
        ),
    ],
)
async def test_the_response_reports_the_effort_it_was_worked_at(
    client: AsyncOpenAI, spec: Spec, model: str, reasoning: dict[str, Any] | None, echoed: dict[str, Any]
) -> None:
    extra = {} if reasoning is None else {"reasoning": reasoning}
    created = await client.responses.create(model=model, input=PROMPT, background=True, extra_body=extra)
    final = await client.responses.retrieve(created.id)
    for response in (created, final):
        check_response(spec, response.to_dict())
        assert response.reasoning is not None
        assert response.reasoning.to_dict() == echoed


@pytest.mark.parametrize(("model", "efforts"), [("gpt-5", ALL_EFFORTS), ("o4-mini", O_SERIES_EFFORTS)])
async def test_responses_reasoning_tokens_scale_with_the_effort_for_one_prompt(
    client: AsyncOpenAI, model: str, efforts: tuple[ReasoningEffort, ...]
) -> None:
    default = await client.responses.create(model=model, input=PROMPT)
    assert default.usage is not None
    medium = default.usage.output_tokens_details.reasoning_tokens
    assert medium >= 16, "a draw this small would hide the rounding"
    for effort in efforts:
        answer = await client.responses.create(model=model, input=PROMPT, reasoning={"effort": effort})
        assert answer.usage is not None
        reasoning = answer.usage.output_tokens_details.reasoning_tokens
        assert reasoning == scaled(medium, effort), effort
        # The same draw otherwise: the visible answer does not change with the effort.
        assert answer.output_text == default.output_text
        assert answer.usage.output_tokens - reasoning == default.usage.output_tokens - medium


async def test_effort_none_answers_without_a_reasoning_item(client: AsyncOpenAI, spec: Spec) -> None:
    answer = await client.responses.create(model="gpt-5.1", input=PROMPT, reasoning={"effort": "none"})
    assert [item.type for item in answer.output] == ["message"]
    assert answer.usage is not None
    assert answer.usage.output_tokens_details.reasoning_tokens == 0
    stream = await client.responses.create(
        model="gpt-5.1", input=PROMPT, reasoning={"effort": "none"}, stream=True
    )
    events: list[dict[str, Any]] = [event.to_dict() async for event in stream]
    for event in events:
        check_event(spec, event)
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["type"]) for e in added] == [(0, "message")]
    assert {e["output_index"] for e in events if "item_id" in e} == {0}
    assert events[-1]["response"]["usage"]["output_tokens_details"]["reasoning_tokens"] == 0


async def test_a_higher_effort_can_exhaust_max_output_tokens_that_medium_fits_in(client: AsyncOpenAI) -> None:
    medium = await client.responses.create(model="gpt-5", input=PROMPT)
    assert medium.usage is not None
    limit = medium.usage.output_tokens  # medium's reasoning and answer, exactly
    fits = await client.responses.create(model="gpt-5", input=PROMPT, max_output_tokens=limit)
    high = await client.responses.create(
        model="gpt-5", input=PROMPT, max_output_tokens=limit, reasoning={"effort": "high"}
    )
    assert fits.status == "completed"
    assert high.status == "incomplete"
    assert high.incomplete_details is not None
    assert high.incomplete_details.reason == "max_output_tokens"
    assert high.usage is not None
    assert (
        high.usage.output_tokens_details.reasoning_tokens
        == 2 * medium.usage.output_tokens_details.reasoning_tokens
    )


@pytest.mark.parametrize(("model", "efforts"), [("gpt-5.1", ALL_EFFORTS), ("o3", O_SERIES_EFFORTS)])
async def test_chat_reasoning_tokens_scale_with_the_effort_for_one_prompt(
    client: AsyncOpenAI, model: str, efforts: tuple[ReasoningEffort, ...]
) -> None:
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    default = await client.chat.completions.create(model=model, messages=messages)
    assert default.usage is not None
    assert default.usage.completion_tokens_details is not None
    medium = default.usage.completion_tokens_details.reasoning_tokens
    assert medium is not None
    assert medium >= 16
    for effort in efforts:
        answer = await client.chat.completions.create(model=model, messages=messages, reasoning_effort=effort)
        assert answer.usage is not None
        assert answer.usage.completion_tokens_details is not None
        reasoning = answer.usage.completion_tokens_details.reasoning_tokens
        assert reasoning == scaled(medium, effort), effort
        assert answer.choices[0].message.content == default.choices[0].message.content
        assert answer.usage.completion_tokens - reasoning == default.usage.completion_tokens - medium
