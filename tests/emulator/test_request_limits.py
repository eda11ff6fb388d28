"""Request limits: `temperature` outside what a model takes, and an input longer than the model's context
window, are refused as OpenAI refuses them (in its words), on the Responses API, its Azure routes and Chat
Completions, and a refused create starts nothing and spends no rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from rowrelay.tasks.emulator.context import context_window
from tests.emulator.contract import Spec, check_response
from tests.support.clock import ManualClock
from tests.support.emulator_checks import (
    PROMPT,
    ROUTES,
    Route,
    azure_client,
    check_nothing_started,
    check_refusal,
    refused_create,
)

RESPONSES_OVERFLOW = (
    "Your input exceeds the context window of this model. Please adjust your input and try again."
)


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """Rate limits on and the clock standing still, so a create charged to a bucket shows in it exactly:
    no refill hides it (an unlimited bucket refills a create's charge within microseconds)."""
    with running_emulator(EmulatorConfig(rpm=60_000, tpm=10_000_000), clock=ManualClock()) as running:
        yield running


def document(tokens: int) -> str:
    """A text the emulator counts as exactly `tokens` input tokens (it counts four characters a token)."""
    sentence = "The customer writes again about the late order. "
    return (sentence * (4 * tokens // len(sentence) + 1))[: 4 * tokens]


# --- temperature -----------------------------------------------------------------------------------

# (model, temperature as sent, code, message); the param is always `temperature`.
TEMPERATURE_REFUSALS = [
    pytest.param(
        "gpt-4.1-mini",
        "0.5",
        "invalid_type",
        "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        id="a-string",
    ),
    pytest.param(
        "gpt-4.1-mini",
        True,
        "invalid_type",
        "Invalid type for 'temperature': expected a decimal, but got a boolean instead.",
        id="a-boolean",
    ),
    pytest.param(
        "gpt-4.1-mini",
        -1,
        "decimal_below_min_value",
        "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -1 instead.",
        id="below-0",
    ),
    pytest.param(
        "gpt-4o",
        3,
        "decimal_above_max_value",
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.",
        id="above-2",
    ),
    pytest.param(
        "gpt-4o",
        2.5,
        "decimal_above_max_value",
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead.",
        id="above-2-decimal",
    ),
    pytest.param(
        "o4-mini",
        3,
        "decimal_above_max_value",
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.",
        id="reasoning-model-out-of-range",
    ),
    pytest.param(
        "o3",
        0.2,
        "unsupported_value",
        "Unsupported value: 'temperature' does not support 0.2 with this model. "
        "Only the default (1) value is supported.",
        id="o3-not-the-default",
    ),
    pytest.param(
        "gpt-5-mini",
        0,
        "unsupported_value",
        "Unsupported value: 'temperature' does not support 0 with this model. "
        "Only the default (1) value is supported.",
        id="gpt-5-not-the-default",
    ),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("model", "temperature", "code", "message"), TEMPERATURE_REFUSALS)
async def test_a_temperature_the_model_does_not_take_is_refused_in_openais_words(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    route: Route,
    model: str,
    temperature: object,
    code: str,
    message: str,
) -> None:
    refused = await refused_create(client, route, model, {"temperature": temperature})
    check_refusal(spec, refused, "temperature", code, message)
    check_nothing_started(emulator)


async def test_the_azure_routes_refuse_a_temperature_as_the_v1_routes_do(
    emulator: RunningEmulator, spec: Spec
) -> None:
    async with azure_client(emulator.url.removesuffix("/v1"), api_key="k") as azure:
        with pytest.raises(openai.BadRequestError) as caught:
            await azure.responses.create(model="o3", input=PROMPT, temperature=0.2)
    message = (
        "Unsupported value: 'temperature' does not support 0.2 with this model. "
        "Only the default (1) value is supported."
    )
    check_refusal(spec, caught.value, "temperature", "unsupported_value", message)
    assert emulator.emulator.stats()["routes"]["POST /openai/responses"] == 1
    check_nothing_started(emulator)


@pytest.mark.parametrize(
    ("model", "temperature"),
    [
        pytest.param("gpt-4.1-mini", 0, id="gpt-4.1-mini-0"),
        pytest.param("gpt-4o", 2, id="gpt-4o-the-maximum"),
        pytest.param("gpt-4.1-mini", 0.7, id="gpt-4.1-mini-decimal"),
        pytest.param("o4-mini", 1, id="o4-mini-the-default"),
        pytest.param("gpt-5", 1.0, id="gpt-5-the-default-as-a-decimal"),
        pytest.param("o3", None, id="o3-null"),
    ],
)
async def test_a_temperature_the_model_takes_is_accepted_and_echoed(
    client: AsyncOpenAI, spec: Spec, model: str, temperature: float | None
) -> None:
    answer = await client.responses.create(model=model, input=PROMPT, extra_body={"temperature": temperature})
    check_response(spec, answer.to_dict())
    assert answer.status == "completed"
    assert answer.temperature == temperature
    completion = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], extra_body={"temperature": temperature}
    )
    assert completion.choices[0].finish_reason == "stop"


async def test_a_response_sent_no_temperature_reports_the_default(client: AsyncOpenAI, spec: Spec) -> None:
    for model in ("gpt-4.1-mini", "o3"):
        answer = await client.responses.create(model=model, input=PROMPT)
        check_response(spec, answer.to_dict())
        assert answer.temperature == 1.0


# --- context window --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("gpt-4.1", 1_047_576),
        ("gpt-4.1-mini-2025-04-14", 1_047_576),
        ("gpt-4o", 128_000),
        ("GPT-4o-mini", 128_000),
        ("o1", 200_000),
        ("o3-mini", 200_000),
        ("o4-mini", 200_000),
        ("gpt-5", 400_000),
        ("gpt-5.1-codex", 400_000),
        ("gpt-4-turbo", 128_000),
        ("my-fine-tune", 128_000),
    ],
)
def test_each_model_family_has_its_context_window(model: str, window: int) -> None:
    assert context_window(model) == window


async def test_a_responses_input_one_token_past_the_window_is_refused(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="gpt-4o-mini", input=document(128_000) + ".")
    check_refusal(spec, caught.value, "input", "context_length_exceeded", RESPONSES_OVERFLOW)
    check_nothing_started(emulator)


async def test_the_instructions_count_against_the_window_too(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input=document(128_000))
    check_refusal(spec, caught.value, "input", "context_length_exceeded", RESPONSES_OVERFLOW)
    check_nothing_started(emulator)


async def test_an_input_exactly_the_window_is_accepted_and_billed_as_counted(
    client: AsyncOpenAI, spec: Spec
) -> None:
    answer = await client.responses.create(model="gpt-4o-mini", input=document(128_000), background=True)
    check_response(spec, answer.to_dict())
    final = await client.responses.retrieve(answer.id)
    assert final.status == "completed"
    assert final.usage is not None
    assert final.usage.input_tokens == 128_000


async def test_the_azure_routes_refuse_an_input_past_the_window(
    emulator: RunningEmulator, spec: Spec
) -> None:
    async with azure_client(emulator.url.removesuffix("/v1"), api_key="k") as azure:
        with pytest.raises(openai.BadRequestError) as caught:
            await azure.responses.create(model="o3", input=document(200_001))
    check_refusal(spec, caught.value, "input", "context_length_exceeded", RESPONSES_OVERFLOW)
    check_nothing_started(emulator)


@pytest.mark.parametrize(
    ("model", "window"),
    [("gpt-4o-mini", 128_000), ("o3", 200_000), ("my-fine-tune", 128_000), ("gpt-5-mini", 400_000)],
)
async def test_chat_messages_past_the_window_are_refused_with_both_numbers(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec, model: str, window: int
) -> None:
    over = window + 2_000
    # Two messages: the count runs over every message, not the last one only (they join with a newline,
    # so a 3-character first message and its newline are one token).
    messages: list[Any] = [
        {"role": "system", "content": "Be."},
        {"role": "user", "content": document(over - 1)},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=model, messages=messages)
    message = (
        f"This model's maximum context length is {window} tokens. However, your messages resulted in "
        f"{over} tokens. Please reduce the length of the messages."
    )
    check_refusal(spec, caught.value, "messages", "context_length_exceeded", message)
    check_nothing_started(emulator)


async def test_chat_messages_that_fit_a_larger_window_are_answered(client: AsyncOpenAI) -> None:
    content = document(130_000)  # past gpt-4o's window, well inside gpt-4.1's
    completion = await client.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": content}]
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 130_000
