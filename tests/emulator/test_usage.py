"""What a response says it cost: cached input tokens and the service tier, as the service reports them."""

from __future__ import annotations

import openai
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.emulator.token_counts import cached_tokens
from tests.emulator.contract import Spec, check_response
from tests.support.sse import ClientFactory

LONG = "word " * 2_000  # about 2,500 tokens at four characters a token


def test_only_long_prompts_report_cache_hits_in_128_token_steps() -> None:
    assert cached_tokens(1023, 0.5) == 0
    assert cached_tokens(1024, 0.5) == 512
    assert cached_tokens(2500, 0.5) == 1152  # 1,250 rounded down to a multiple of 128
    assert cached_tokens(5000, 0.0) == 0
    assert cached_tokens(5000, 1.0) == 4992


async def test_a_long_prompt_reports_its_cached_share_the_same_each_time(
    client: AsyncOpenAI, spec: Spec
) -> None:
    first = await client.responses.create(model="gpt-4.1-mini", input=LONG)
    again = await client.responses.create(model="gpt-4.1-mini", input=LONG)
    check_response(spec, first.to_dict())
    assert first.usage is not None
    assert again.usage is not None
    cached = first.usage.input_tokens_details.cached_tokens
    assert cached == cached_tokens(first.usage.input_tokens, 0.5) > 0
    assert again.usage.input_tokens_details.cached_tokens == cached
    short = await client.responses.create(model="gpt-4.1-mini", input="hi")
    assert short.usage is not None
    assert short.usage.input_tokens_details.cached_tokens == 0


async def test_the_cached_share_is_configurable(make_client: ClientFactory) -> None:
    with running_emulator(EmulatorConfig(cached_share=0.0)) as emu:
        answer = await make_client(emu).responses.create(model="gpt-4.1-mini", input=LONG)
    assert answer.usage is not None
    assert answer.usage.input_tokens_details.cached_tokens == 0


@pytest.mark.parametrize(("asked", "served"), [(None, "default"), ("auto", "default"), ("flex", "flex"),
                                               ("priority", "priority"), ("default", "default")])  # fmt: skip
async def test_the_response_names_the_tier_it_was_served_in(
    client: AsyncOpenAI, spec: Spec, asked: str | None, served: str
) -> None:
    tier = openai.omit if asked is None else asked
    created = await client.responses.create(
        model="o4-mini",
        input="hi",
        background=True,
        service_tier=tier,  # type: ignore[arg-type]
    )
    assert created.service_tier == served
    final = await client.responses.retrieve(created.id)
    check_response(spec, final.to_dict())
    assert final.service_tier == served
    chat = await client.chat.completions.create(
        model="o4-mini",
        messages=[{"role": "user", "content": "hi"}],
        service_tier=tier,  # type: ignore[arg-type]
    )
    assert chat.service_tier == served


async def test_an_unknown_tier_is_refused_as_the_service_refuses_it(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="o4-mini", input="hi", extra_body={"service_tier": "fastest"})
    assert caught.value.param == "service_tier"
    assert "Supported values are: 'auto', 'default', 'flex', 'scale', and 'priority'" in str(caught.value)
