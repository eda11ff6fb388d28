"""Create, poll and finish: the background lifecycle and the foreground path, over the real SDK."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec, check_response
from tests.support.events import response_of

LATENCY = {"x-emulator-latency": "2"}
"""Long enough that a loaded machine still looks before the response ends (0.3 s: one suite run on a
loaded machine made its first poll after the end and saw only `completed`)."""


async def poll_until_done(client: AsyncOpenAI, response_id: str, spec: Spec) -> list[str]:
    """Poll every 20 ms; return the statuses seen, each body checked against the contract."""
    statuses: list[str] = []
    for _ in range(500):
        raw = await client.responses.with_raw_response.retrieve(response_id)
        payload = raw.http_response.json()
        check_response(spec, payload)
        statuses.append(payload["status"])
        if payload["status"] not in ("queued", "in_progress"):
            return statuses
        await asyncio.sleep(0.02)
    raise AssertionError(f"{response_id} never finished: {statuses[-3:]}")


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "o3", "gpt-5-mini"])
async def test_background_create_is_queued_then_polls_to_completed(
    client: AsyncOpenAI, spec: Spec, model: str
) -> None:
    raw = await client.responses.with_raw_response.create(
        model=model, input="Summarise the ticket.", background=True, extra_headers=LATENCY
    )
    created = check_response(spec, raw.http_response.json())
    assert created.status == "queued"
    assert created.background is True
    assert created.output == []
    assert created.usage is None
    assert re.fullmatch(r"resp_[0-9a-f]{48}", created.id)
    assert isinstance(raw.http_response.json()["created_at"], int)

    statuses = await poll_until_done(client, created.id, spec)
    assert statuses[-1] == "completed"
    assert "in_progress" in statuses
    assert statuses.index("in_progress") > 0 or statuses[0] == "in_progress"

    final = await client.responses.retrieve(created.id)
    assert final.output_text
    assert final.usage is not None
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
    assert final.completed_at is not None
    assert final.completed_at >= final.created_at
    message = final.output[-1]
    assert message.type == "message"
    assert re.fullmatch(r"msg_[0-9a-f]{48}", message.id)
    assert message.status == "completed"
    if model.startswith(("o3", "gpt-5")):
        assert final.output[0].type == "reasoning"
        assert final.usage.output_tokens_details.reasoning_tokens > 0
    else:
        assert len(final.output) == 1
        assert final.usage.output_tokens_details.reasoning_tokens == 0


async def test_zero_latency_background_create_still_answers_queued(client: AsyncOpenAI, spec: Spec) -> None:
    created = await client.responses.create(model="gpt-4.1", input="hi", background=True)
    assert created.status == "queued"
    assert (await client.responses.retrieve(created.id)).status == "completed"


async def test_echoes_request_fields_and_accepts_the_sdks_beyond_the_spec(
    client: AsyncOpenAI, spec: Spec
) -> None:
    created = await client.responses.create(
        model="o3",
        input=[{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        instructions="Be brief.",
        background=True,
        metadata={"row": "42"},
        include=["reasoning.encrypted_content"],
        stream_options=None,
        background_options={"completion_window": "soonest"},
    )
    assert created.metadata == {"row": "42"}
    assert created.instructions == "Be brief."
    final = await client.responses.retrieve(created.id, include=["reasoning.encrypted_content"])
    check_response(spec, final.to_dict())
    assert final.output[0].type == "reasoning"
    assert final.output[0].encrypted_content
    plain = await client.responses.retrieve(created.id)
    assert plain.output[0].type == "reasoning"
    assert plain.output[0].encrypted_content is None


async def test_foreground_create_returns_completed_after_its_latency(client: AsyncOpenAI, spec: Spec) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    raw = await client.responses.with_raw_response.create(
        model="gpt-4.1", input="hi", extra_headers={"x-emulator-latency": "0.2"}
    )
    assert loop.time() - started >= 0.2
    final = check_response(spec, raw.http_response.json())
    assert final.status == "completed"
    assert final.background is False
    assert final.output_text
    assert final.usage is not None


async def test_previous_response_id_must_resolve(client: AsyncOpenAI) -> None:
    first = await client.responses.create(model="gpt-4.1", input="hi")
    second = await client.responses.create(model="gpt-4.1", input="again", previous_response_id=first.id)
    assert second.previous_response_id == first.id


async def test_background_work_belongs_to_the_server(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    """A client that reads two events and hangs up does not stop the response."""
    stream = await client.responses.create(
        model="gpt-4.1", input="hi", background=True, stream=True, extra_headers=LATENCY
    )
    seen = []
    async for event in stream:
        seen.append(event)
        if len(seen) == 2:
            break
    await stream.close()
    response_id = response_of(seen[0]).id
    assert (await client.responses.retrieve(response_id)).status in ("queued", "in_progress")
    statuses = await poll_until_done(client, response_id, spec)
    assert statuses[-1] == "completed"
    final = await client.responses.retrieve(response_id)
    assert final.output_text


async def test_store_false_foreground_is_not_held(client: AsyncOpenAI, emulator: RunningEmulator) -> None:
    done = await client.responses.create(model="gpt-4.1", input="hi", store=False)
    assert done.status == "completed"
    async with httpx.AsyncClient() as http:
        rows = (await http.get(emulator.url.removesuffix("/v1") + "/emulator/responses")).json()["data"]
    assert done.id not in {row["id"] for row in rows}
