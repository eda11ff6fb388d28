"""Server-sent events: grammar, numbering, framing, resume with an exclusive cursor, and cuts."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.emulator.contract import Spec, check_event
from tests.support.emulator_checks import check_grammar, read_through_cuts
from tests.support.events import response_of
from tests.support.sse import ClientFactory, raw_sse

LATENCY = {"x-emulator-latency": "0.2"}
TERMINAL = {"response.completed", "response.failed", "response.incomplete"}


@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("model", ["gpt-4.1-mini", "o3"])
async def test_raw_sse_stream_grammar_framing_and_schema(
    emulator: RunningEmulator, spec: Spec, model: str, background: bool
) -> None:
    body = {"model": model, "input": "hi", "background": background, "stream": True}
    response, frames = await raw_sse(emulator.url, "POST", "/responses", json=body, headers=LATENCY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"].startswith("req_")
    assert "x-ratelimit-remaining-requests" in response.headers
    for name, data in frames:
        assert name == data["type"], "the event: line must equal data.type"
        check_event(spec, data)
    events = [data for _, data in frames]
    check_grammar(events, background=background, reasoning=model == "o3")
    assert all("obfuscation" in e for e in events if e["type"] == "response.output_text.delta")


async def test_sdk_stream_and_accumulator(client: AsyncOpenAI, spec: Spec) -> None:
    """The SDK's own stream helper needs response.created first and a response.completed last."""
    async with client.responses.stream(
        model="gpt-5-mini", input="hi", background=True, extra_headers=LATENCY
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.queued"]
    assert kinds[-1] == "response.completed"
    assert final.status == "completed"
    assert final.output_text
    stored = await client.responses.retrieve(final.id)
    assert stored.output_text == final.output_text


async def test_replay_without_cursor_starts_at_zero_and_repeats_the_log(
    client: AsyncOpenAI, emulator: RunningEmulator
) -> None:
    body = {"model": "o3", "input": "hi", "background": True, "stream": True}
    _, first = await raw_sse(emulator.url, "POST", "/responses", json=body)
    response_id = first[0][1]["response"]["id"]
    _, replay = await raw_sse(emulator.url, "GET", f"/responses/{response_id}", params={"stream": "true"})
    assert replay == first
    sdk_replay = [e async for e in await client.responses.retrieve(response_id, stream=True)]
    assert [e.sequence_number for e in sdk_replay] == list(range(len(first)))


async def test_starting_after_is_exclusive(client: AsyncOpenAI, emulator: RunningEmulator) -> None:
    body = {"model": "gpt-4.1", "input": "hi", "background": True, "stream": True}
    _, full = await raw_sse(emulator.url, "POST", "/responses", json=body)
    response_id = full[0][1]["response"]["id"]
    for cursor in (0, 3, len(full) - 2):
        stream = await client.responses.retrieve(response_id, stream=True, starting_after=cursor)
        resumed = [event.to_dict() async for event in stream]
        assert resumed == [data for _, data in full[cursor + 1 :]]


async def test_starting_after_past_the_end_is_an_empty_stream(
    client: AsyncOpenAI, emulator: RunningEmulator
) -> None:
    body = {"model": "gpt-4.1", "input": "hi", "background": True, "stream": True}
    _, full = await raw_sse(emulator.url, "POST", "/responses", json=body)
    response_id = full[0][1]["response"]["id"]
    for cursor in (len(full) - 1, len(full) + 10):
        response, frames = await raw_sse(
            emulator.url,
            "GET",
            f"/responses/{response_id}",
            params={"stream": "true", "starting_after": cursor},
        )
        assert response.status_code == 200
        assert frames == []
        stream = await client.responses.retrieve(response_id, stream=True, starting_after=cursor)
        assert [e async for e in stream] == []


@pytest.mark.parametrize("cut", [1, 3, 7])
async def test_cut_stream_resumes_with_exactly_the_missing_events(
    client: AsyncOpenAI, spec: Spec, cut: int
) -> None:
    """drop-stream=K cuts every connection after K events; resume from the last seq until the end."""
    headers = {"x-emulator-fault": f"drop-stream={cut}", **LATENCY}
    stream = await client.responses.create(
        model="o3", input="hi", background=True, stream=True, extra_headers=headers
    )
    events, connections = await read_through_cuts(client, stream, cut)
    assert connections > 1
    for payload in events:
        check_event(spec, payload)
    check_grammar(events, background=True, reasoning=True)
    final = await client.responses.retrieve(events[0]["response"]["id"])
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == final.output_text


async def test_resume_joins_a_running_response_live(client: AsyncOpenAI) -> None:
    stream = await client.responses.create(
        model="gpt-4.1", input="hi", background=True, stream=True, extra_headers={"x-emulator-latency": "0.4"}
    )
    first = []
    async for event in stream:
        first.append(event)
        if event.type == "response.in_progress":
            break
    await stream.close()
    resumed = await client.responses.retrieve(
        response_of(first[0]).id, stream=True, starting_after=first[-1].sequence_number
    )
    rest = [event async for event in resumed]
    assert rest[0].sequence_number == first[-1].sequence_number + 1
    assert rest[-1].type == "response.completed"


async def test_foreground_stream_has_no_queued_event(client: AsyncOpenAI) -> None:
    stream = await client.responses.create(model="gpt-4.1", input="hi", stream=True, extra_headers=LATENCY)
    events = [event async for event in stream]
    assert events[0].type == "response.created"
    assert response_of(events[0]).status == "in_progress"
    assert events[1].type == "response.in_progress"
    assert "response.queued" not in {e.type for e in events}
    assert events[-1].type == "response.completed"


async def test_obfuscation_can_be_turned_off(client: AsyncOpenAI, emulator: RunningEmulator) -> None:
    body = {
        "model": "gpt-4.1",
        "input": "hi",
        "background": True,
        "stream": True,
        "stream_options": {"include_obfuscation": False},
    }
    _, frames = await raw_sse(emulator.url, "POST", "/responses", json=body)
    deltas = [data for _, data in frames if data["type"] == "response.output_text.delta"]
    assert deltas
    assert all("obfuscation" not in d for d in deltas)
    response_id = frames[0][1]["response"]["id"]
    _, replay = await raw_sse(
        emulator.url,
        "GET",
        f"/responses/{response_id}",
        params={"stream": "true", "include_obfuscation": "true"},
    )
    assert all("obfuscation" in d for _, d in replay if d["type"] == "response.output_text.delta")


@pytest.mark.parametrize(
    ("create", "message"),
    [
        ({"background": False, "stream": True}, "not created with background=true"),
        ({"background": True, "stream": False}, "not created with stream=true"),
    ],
)
async def test_resume_refused_for_responses_that_cannot_stream(
    client: AsyncOpenAI, create: dict[str, bool], message: str
) -> None:
    if create["stream"]:
        stream = await client.responses.create(
            model="gpt-4.1", input="hi", background=create["background"], stream=True
        )
        events = [e async for e in stream]
        response_id = response_of(events[0]).id
    else:
        created = await client.responses.create(
            model="gpt-4.1", input="hi", background=create["background"], stream=False
        )
        response_id = created.id
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.retrieve(response_id, stream=True)
    assert caught.value.status_code == 400
    assert caught.value.param == "stream"
    assert caught.value.type == "invalid_request_error"
    assert message in caught.value.message


async def test_resume_refused_past_the_stream_window(make_client: ClientFactory) -> None:
    with running_emulator(EmulatorConfig(stream_window=0.1)) as emu:
        client = make_client(emu)
        stream = await client.responses.create(model="gpt-4.1", input="hi", background=True, stream=True)
        events = [e async for e in stream]
        response_id = response_of(events[0]).id
        assert [e async for e in await client.responses.retrieve(response_id, stream=True)]
        emu.emulator.clock = _Shifted(emu.emulator.clock, 0.2)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.retrieve(response_id, stream=True)
        assert caught.value.param == "stream"
        assert "can no longer be streamed" in caught.value.message
        assert (await client.responses.retrieve(response_id)).status == "completed", "polling still works"


class _Shifted:
    """A clock running `shift` seconds ahead of another: the suite never sleeps through a window."""

    def __init__(self, inner: Any, shift: float) -> None:
        self.inner, self.shift = inner, shift

    def monotonic(self) -> float:
        return float(self.inner.monotonic()) + self.shift

    def wall(self) -> float:
        return float(self.inner.wall()) + self.shift


async def test_queued_event_and_done_sentinel_are_configurable() -> None:
    config = EmulatorConfig(emit_queued=False, done_sentinel=True)
    body = {"model": "gpt-4.1", "input": "hi", "background": True, "stream": True}
    with running_emulator(config) as emu:
        async with httpx.AsyncClient(base_url=emu.url) as http:
            raw = (await http.post("/responses", json=body)).text
    assert raw.endswith("data: [DONE]\n\n")
    assert "response.queued" not in raw
    assert "event: response.created" in raw
