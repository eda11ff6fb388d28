"""Token logprobs streamed on the Responses API: each text delta carries its own tokens' logprobs, the done
events and the lifecycle events' responses all of them, every event as the spec and the SDK type it; a
resumed stream replays the same numbers, shown as the resuming GET's own `include` asks."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI
from openai.types.responses import ResponseTextDeltaEvent, ResponseTextDoneEvent
from openai.types.responses.response_text_delta_event import Logprob as DeltaLogprob

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec, check_event, sdk_event
from tests.support.emulator_checks import PROMPT, check_grammar
from tests.support.logprobs import INCLUDE, JSON_TEXT, check_logprobs, joined, without_bytes
from tests.support.sse import raw_sse

DELTA, DONE = "response.output_text.delta", "response.output_text.done"


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]


@pytest.mark.parametrize(
    ("model", "top", "fields"),
    [("gpt-4.1", 0, {}), ("gpt-4.1", 3, {}), ("gpt-4o-mini", 20, {}), ("gpt-4.1", 2, {"text": JSON_TEXT})],
    ids=["top-0", "top-3", "top-20", "json"],
)
async def test_each_delta_carries_its_own_tokens_and_the_done_events_all_of_them(
    emulator: RunningEmulator, spec: Spec, model: str, top: int, fields: dict[str, Any]
) -> None:
    """A JSON answer's deltas end inside stretches cut four characters a token: a cut gives way there."""
    body = {
        "model": model,
        "input": PROMPT,
        "stream": True,
        "top_logprobs": top,
        "include": [INCLUDE],
        **fields,
    }
    _, frames = await raw_sse(emulator.url, "POST", "/responses", json=body)
    events = [data for _, data in frames]
    for event in events:
        check_event(spec, event)
    check_grammar(events, background=False, reasoning=False)
    deltas = _of(events, DELTA)
    assert len(deltas) > 1
    for delta in deltas:
        check_logprobs(delta["logprobs"], delta["delta"], top, with_bytes=False)
        typed = sdk_event(delta)
        assert isinstance(typed, ResponseTextDeltaEvent)
        assert all(isinstance(entry, DeltaLogprob) for entry in typed.logprobs)
    (done,) = _of(events, DONE)
    assert isinstance(sdk_event(done), ResponseTextDoneEvent)
    check_logprobs(done["logprobs"], done["text"], top, with_bytes=False)
    assert joined([delta["logprobs"] for delta in deltas]) == done["logprobs"]
    (part_done,) = _of(events, "response.content_part.done")
    part = part_done["part"]["logprobs"]
    check_logprobs(part, done["text"], top)
    assert without_bytes(part) == done["logprobs"], "the same numbers, the part's with bytes"
    (item_done,) = _of(events, "response.output_item.done")
    assert item_done["item"]["content"][0]["logprobs"] == part
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["logprobs"] == part, "response.completed carries them too"
    assert len(part) == final["usage"]["output_tokens"]
    (added,) = _of(events, "response.content_part.added")
    assert added["part"]["logprobs"] == [], "no text, no tokens yet"


async def test_without_the_include_a_stream_carries_no_logprobs(emulator: RunningEmulator) -> None:
    body = {"model": "gpt-4.1", "input": PROMPT, "stream": True, "top_logprobs": 4}
    _, frames = await raw_sse(emulator.url, "POST", "/responses", json=body)
    events = [data for _, data in frames]
    assert all(event["logprobs"] == [] for event in _of(events, DELTA) + _of(events, DONE))
    assert events[-1]["response"]["output"][0]["content"][0]["logprobs"] == []


async def test_the_sdk_reads_the_streamed_logprobs(client: AsyncOpenAI, spec: Spec) -> None:
    stream = await client.responses.create(
        model="gpt-4.1", input=PROMPT, stream=True, top_logprobs=2, include=[INCLUDE]
    )
    events = [event async for event in stream]
    text = "".join(event.delta for event in events if isinstance(event, ResponseTextDeltaEvent))
    tokens = [
        entry.token
        for event in events
        if isinstance(event, ResponseTextDeltaEvent)
        for entry in event.logprobs
    ]
    assert "".join(tokens) == text
    async with client.responses.stream(
        model="gpt-4.1", input=PROMPT, top_logprobs=2, include=[INCLUDE]
    ) as helper:
        final = await helper.get_final_response()
    message = final.output[0]
    assert message.type == "message"
    part = message.content[0]
    assert part.type == "output_text"
    assert part.logprobs is not None
    assert [entry.token for entry in part.logprobs] == tokens, "the helper's final response keeps them"


async def test_a_resumed_stream_replays_the_same_logprobs(client: AsyncOpenAI, spec: Spec) -> None:
    stream = await client.responses.create(
        model="gpt-4.1", input=PROMPT, background=True, stream=True, top_logprobs=3, include=[INCLUDE]
    )
    events: list[dict[str, Any]] = [event.to_dict() async for event in stream]
    response_id = events[0]["response"]["id"]
    cursors = [-1, *(event["sequence_number"] for event in _of(events, DELTA))][::2]
    for cursor in cursors:
        resumed = await client.responses.retrieve(
            response_id, stream=True, starting_after=cursor, include=[INCLUDE]
        )
        assert [event.to_dict() async for event in resumed] == events[cursor + 1 :]
    bare = await client.responses.retrieve(response_id, stream=True, starting_after=cursors[-1])
    replayed = [event.to_dict() async for event in bare]
    assert [event["logprobs"] for event in _of(replayed, DELTA)] == [[]] * len(_of(replayed, DELTA))


async def test_a_resume_shows_the_logprobs_its_own_include_asks_for(client: AsyncOpenAI) -> None:
    """The create asked for none; the resuming GET asks, and gets the numbers an identical create that
    asked streamed."""
    asked = await client.responses.create(
        model="gpt-4.1", input=PROMPT, background=True, stream=True, top_logprobs=3, include=[INCLUDE]
    )
    shown = [
        event.to_dict()["logprobs"] async for event in asked if isinstance(event, ResponseTextDeltaEvent)
    ]
    plain = await client.responses.create(
        model="gpt-4.1", input=PROMPT, background=True, stream=True, top_logprobs=3
    )
    events: list[dict[str, Any]] = [event.to_dict() async for event in plain]
    assert all(event["logprobs"] == [] for event in _of(events, DELTA))
    resumed = await client.responses.retrieve(events[0]["response"]["id"], stream=True, include=[INCLUDE])
    replayed = [event.to_dict() async for event in resumed]
    assert [event["logprobs"] for event in _of(replayed, DELTA)] == shown
    assert shown
    assert all(shown)
