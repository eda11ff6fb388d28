"""Every failure option of the emulator, from configuration and from the per-request headers."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import httpx
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import ResponseErrorEvent

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from tests.emulator.contract import Spec, check_event
from tests.support.emulator_checks import final_body
from tests.support.events import response_of
from tests.support.sse import ClientFactory, raw_sse


class _Body(TypedDict):
    model: str
    input: str
    background: bool


BODY = _Body(model="gpt-4.1", input="hi", background=True)


class _OutputLimit(TypedDict, total=False):
    max_output_tokens: int


async def listing(emu: RunningEmulator) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=emu.url.removesuffix("/v1")) as http:
        rows: list[dict[str, Any]] = (await http.get("/emulator/responses")).json()["data"]
    return rows


@pytest.mark.parametrize("source", ["config", "header"])
async def test_failed_responses(make_client: ClientFactory, spec: Spec, source: str) -> None:
    config = EmulatorConfig(fail_rate=1.0 if source == "config" else 0.0)
    headers = {"x-emulator-fault": "fail"} if source == "header" else {}
    with running_emulator(config) as emu:
        client = make_client(emu)
        created = await client.responses.create(**BODY, extra_headers=headers)
        final = await final_body(client, spec, created.id)
        assert final["status"] == "failed"
        assert final["error"]["code"] == "server_error"
        assert final["usage"] is None
        assert final["completed_at"] is None
        _, frames = await raw_sse(
            emu.url, "POST", "/responses", json={**BODY, "stream": True}, headers=headers
        )
    events = [data for _, data in frames]
    for event in events:
        check_event(spec, event)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["error"]["code"] == "server_error", "the service's nested shape by default"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


async def test_nested_error_event_is_raised_by_the_sdk(client: AsyncOpenAI) -> None:
    stream = await client.responses.create(**BODY, stream=True, extra_headers={"x-emulator-fault": "fail"})
    with pytest.raises(openai.APIError) as caught:
        async for _ in stream:
            pass
    assert caught.value.body == {
        "type": "server_error",
        "code": "server_error",
        "message": caught.value.message,
        "param": None,
    }


async def test_flat_error_event_matches_the_spec_and_is_yielded(
    make_client: ClientFactory, spec: Spec
) -> None:
    with running_emulator(EmulatorConfig(error_shape="flat", fail_rate=1.0)) as emu:
        client = make_client(emu)
        stream = await client.responses.create(**BODY, stream=True)
        events = [event async for event in stream]
    error = events[-2]
    assert isinstance(error, ResponseErrorEvent)
    spec.check("ResponseErrorEvent", error.to_dict())
    assert error.code == "server_error"
    assert events[-1].type == "response.failed"


@pytest.mark.parametrize("source", ["config", "header", "max_output_tokens"])
async def test_incomplete_responses(make_client: ClientFactory, spec: Spec, source: str) -> None:
    config = EmulatorConfig(incomplete_rate=1.0 if source == "config" else 0.0, output_tokens=(60, 60))
    headers = {"x-emulator-fault": "incomplete"} if source == "header" else {}
    limited = source == "max_output_tokens"
    body = _Body(model="o3", input="hi", background=True) if limited else BODY
    extra = _OutputLimit(max_output_tokens=16) if limited else _OutputLimit()
    with running_emulator(config) as emu:
        client = make_client(emu)
        created = await client.responses.create(**body, **extra, extra_headers=headers)
        final = await final_body(client, spec, created.id)
        _, frames = await raw_sse(
            emu.url, "POST", "/responses", json={**body, **extra, "stream": True}, headers=headers
        )
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["usage"] is not None
    events = [data for _, data in frames]
    for event in events:
        check_event(spec, event)
    assert events[-1]["type"] == "response.incomplete"
    if limited:  # o3 spends all 16 tokens reasoning: it writes no message (test_reasoning_ceiling.py)
        assert [item["type"] for item in final["output"]] == ["reasoning"]
        assert final["usage"]["output_tokens"] == 16
        assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 16
        assert [item["type"] for item in events[-1]["response"]["output"]] == ["reasoning"]
    else:
        assert final["output"][-1]["status"] == "incomplete"
        assert events[-2]["item"]["status"] == "incomplete"


@pytest.mark.parametrize("source", ["config", "header"])
async def test_the_content_filter_stops_an_answer_partway(
    make_client: ClientFactory, spec: Spec, source: str
) -> None:
    """`incomplete` for `content_filter` (a reason in the spec's enum), its text cut short: a client that
    reads only `max_output_tokens` as a cut, or only `length` on Chat Completions, takes it for an answer."""
    config = EmulatorConfig(content_filter_rate=1.0 if source == "config" else 0.0, output_tokens=(60, 60))
    headers = {"x-emulator-fault": "content-filter"} if source == "header" else {}
    with running_emulator(config) as emu:
        client = make_client(emu)
        created = await client.responses.create(**BODY, extra_headers=headers)
        final = await final_body(client, spec, created.id)
        _, frames = await raw_sse(
            emu.url, "POST", "/responses", json={**BODY, "stream": True}, headers=headers
        )
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "content_filter"}
    assert 0 < final["usage"]["output_tokens"] < 60, "stopped partway"
    events = [data for _, data in frames]
    for event in events:
        check_event(spec, event)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "content_filter"}


async def test_error_rate_answers_500_and_creates_nothing(make_client: ClientFactory, spec: Spec) -> None:
    with running_emulator(EmulatorConfig(error_rate=1.0)) as emu:
        client = make_client(emu)
        with pytest.raises(openai.InternalServerError) as caught:
            await client.responses.create(**BODY)
        spec.check("ErrorResponse", caught.value.response.json())
        assert caught.value.type == "server_error"
        with pytest.raises(openai.InternalServerError):
            await client.responses.create(**BODY, stream=True)
        assert await listing(emu) == []


async def test_error_rate_draws_again_for_a_retried_identical_request(make_client: ClientFactory) -> None:
    """A retried row may succeed: the fault draw depends on how many identical requests came before."""
    with running_emulator(EmulatorConfig(error_rate=0.5, seed=3)) as emu:
        client = make_client(emu)
        outcomes = set()
        for _ in range(12):
            try:
                await client.responses.create(**BODY)
                outcomes.add("ok")
            except openai.InternalServerError:
                outcomes.add("500")
    assert outcomes == {"ok", "500"}


async def test_drop_stream_after_cuts_every_connection(make_client: ClientFactory) -> None:
    with running_emulator(EmulatorConfig(drop_stream_after=4)) as emu:
        client = make_client(emu)
        stream = await client.responses.create(**BODY, stream=True)
        got, error = await read_until_cut(stream)
        assert isinstance(error, openai.APIConnectionError)
        assert [e.sequence_number for e in got] == [0, 1, 2, 3]
        resumed = await client.responses.retrieve(response_of(got[0]).id, stream=True, starting_after=3)
        more, error = await read_until_cut(resumed)
        assert isinstance(error, openai.APIConnectionError)
        assert [e.sequence_number for e in more] == [4, 5, 6, 7]


async def read_until_cut(stream: openai.AsyncStream[Any]) -> tuple[list[Any], Exception | None]:
    events: list[Any] = []
    try:
        async for event in stream:
            events.append(event)
    except openai.APIConnectionError as exc:
        return events, exc
    return events, None


async def test_stuck_rate_stays_queued_until_cancelled(make_client: ClientFactory) -> None:
    with running_emulator(EmulatorConfig(stuck_rate=1.0)) as emu:
        client = make_client(emu)
        created = await client.responses.create(**BODY)
        await asyncio.sleep(0.1)
        assert (await client.responses.retrieve(created.id)).status == "queued"
        assert (await client.responses.cancel(created.id)).status == "cancelled"
        foreground = await client.responses.create(model="gpt-4.1", input="hi")
        assert foreground.status == "completed", "stuck applies to background responses only"


async def test_retention_forgets_responses(make_client: ClientFactory) -> None:
    with running_emulator(EmulatorConfig(retention=0.2)) as emu:
        client = make_client(emu)
        created = await client.responses.create(**BODY)
        assert (await client.responses.retrieve(created.id)).status == "completed"
        await asyncio.sleep(0.25)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(created.id)
        assert await listing(emu) == []


async def test_latency_header_and_spec(make_client: ClientFactory) -> None:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.1,0.2"))) as emu:
        client = make_client(emu)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.responses.create(model="gpt-4.1", input="hi")
        assert 0.1 <= loop.time() - started < 1.0
        started = loop.time()
        await client.responses.create(model="gpt-4.1", input="hi", extra_headers={"x-emulator-latency": "0"})
        assert loop.time() - started < 0.1


async def test_unknown_fault_header_is_400(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.responses.create(**BODY, extra_headers={"x-emulator-fault": "explode"})


async def _answer(emu: RunningEmulator, client: AsyncOpenAI, prompt: str) -> tuple[str, dict[str, Any]]:
    created = await client.responses.create(model="o3", input=prompt)
    return created.output_text, created.usage.to_dict() if created.usage else {}


async def test_same_seed_same_answer_other_seed_other_answer(make_client: ClientFactory) -> None:
    answers = []
    for seed in (7, 7, 8):
        with running_emulator(EmulatorConfig(seed=seed)) as emu:
            answers.append(await _answer(emu, make_client(emu), "Classify this ticket."))
    assert answers[0] == answers[1]
    assert answers[0][0]
    assert answers[0] != answers[2]
    with running_emulator(EmulatorConfig(seed=7)) as emu:
        other = await _answer(emu, make_client(emu), "A different prompt.")
    assert other[0] != answers[0][0]
