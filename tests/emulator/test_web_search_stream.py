"""Web search streamed and polled: each search's five events in the service's order before the answer, its
links inside the text deltas and one `annotation.added` per citation after them, every event typed by the
SDK; a stream cut anywhere (inside the searches too) resumes with exactly the events it missed; and a poll
while the model searches shows the searches as they stand."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    ResponseFunctionWebSearch,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseWebSearchCallCompletedEvent,
    ResponseWebSearchCallInProgressEvent,
    ResponseWebSearchCallSearchingEvent,
)
from openai.types.responses.response_function_web_search import ActionSearch
from openai.types.responses.response_output_text_annotation_added_event import AnnotationURLCitation

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.emulator.contract import Spec, check_response
from tests.support.clock import ManualClock
from tests.support.emulator_checks import PROMPT, read_through_cuts
from tests.support.sse import ClientFactory, raw_sse
from tests.support.web_search import (
    SEARCHES,
    SOURCES,
    WEB_SEARCH,
    WEB_SEARCH_PREVIEW,
    check_citations,
    check_search_stream,
)

LATENCY = {"x-emulator-latency": "0.2"}


@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("model", ["gpt-4.1", "o3-deep-research"])
async def test_each_search_streams_its_five_events_before_the_cited_answer(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec, model: str, background: bool
) -> None:
    body = {"model": model, "input": PROMPT, "tools": [WEB_SEARCH_PREVIEW], "stream": True}
    body["background"] = background
    _, frames = await raw_sse(emulator.url, "POST", "/responses", json=body, headers=LATENCY)
    assert all(name == data["type"] for name, data in frames), "the event: line must equal data.type"
    events = [data for _, data in frames]
    count = check_search_stream(spec, events, background=background, reasoning=model != "gpt-4.1")
    fewest, most = SEARCHES[model]
    assert fewest <= count <= most
    polled = await client.responses.retrieve(events[0]["response"]["id"])
    assert polled.to_dict() == events[-1]["response"]
    check_citations(polled, PROMPT)


async def test_the_sdk_types_every_search_and_annotation_event_and_its_helper_accumulates_them(
    client: AsyncOpenAI, spec: Spec
) -> None:
    stream = await client.responses.create(
        model="o4-mini-deep-research",
        input=PROMPT,
        tools=[WEB_SEARCH],
        include=[SOURCES],
        stream=True,
        extra_headers=LATENCY,
    )
    events = [event async for event in stream]
    count = check_search_stream(spec, [event.to_dict() for event in events], background=False, reasoning=True)
    kinds = (ResponseWebSearchCallInProgressEvent, ResponseWebSearchCallSearchingEvent)
    assert sum(isinstance(event, kinds) for event in events) == 2 * count
    assert sum(isinstance(event, ResponseWebSearchCallCompletedEvent) for event in events) == count
    items = [
        event.item
        for event in events
        if isinstance(event, ResponseOutputItemAddedEvent | ResponseOutputItemDoneEvent)
        and isinstance(event.item, ResponseFunctionWebSearch)
    ]
    assert [item.status for item in items] == ["in_progress", "completed"] * count
    sources = [item.action.sources for item in items if isinstance(item.action, ActionSearch)]
    assert [bool(found) for found in sources] == [False, True] * count, "the pages, once the search is done"
    notes = [event for event in events if isinstance(event, ResponseOutputTextAnnotationAddedEvent)]
    assert len(notes) == count
    assert all(isinstance(note.annotation, AnnotationURLCitation) for note in notes)
    async with client.responses.stream(
        model="o4-mini-deep-research", input=PROMPT, tools=[WEB_SEARCH]
    ) as helper:
        final = await helper.get_final_response()
    assert len(check_citations(final, PROMPT)) == count, "the helper's final response keeps every search"


@pytest.mark.parametrize("cut", [4, 6, 7, 8, 9])
async def test_a_stream_cut_inside_the_searches_resumes_with_exactly_the_missing_events(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec, cut: int
) -> None:
    """drop-stream=K cuts every connection after K events. A deep research stream opens with five events
    (created, queued, in_progress, the reasoning item added and done), then five per search: K = 6 to 9
    cut the first connection inside the first search, at each of its events; later cuts fall further
    into the searches, the text and its annotations."""
    stream = await client.responses.create(
        model="o3-deep-research",
        input=PROMPT,
        tools=[WEB_SEARCH],
        background=True,
        stream=True,
        extra_headers={"x-emulator-fault": f"drop-stream={cut}", **LATENCY},
    )
    events, connections = await read_through_cuts(client, stream, cut)
    count = check_search_stream(spec, events, background=True, reasoning=True)
    assert connections > 1 + 5 * count // cut
    response_id = events[0]["response"]["id"]
    emulator.emulator.records[response_id].drop_after = None  # the fault cuts every connection: lift it
    _, replay = await raw_sse(emulator.url, "GET", f"/responses/{response_id}", params={"stream": "true"})
    assert events == [data for _, data in replay], "the pieces make up the one stream, as numbered"
    searching = [e["sequence_number"] for e in events if e["type"].startswith("response.web_search_call.")]
    for cursor in searching[::3]:
        resumed = await client.responses.retrieve(response_id, stream=True, starting_after=cursor)
        assert [event.to_dict() async for event in resumed] == events[cursor + 1 :]


async def test_a_poll_while_the_model_searches_shows_the_searches_as_they_stand(
    make_client: ClientFactory, spec: Spec
) -> None:
    """With the clock in hand, a poll at each instant of the timeline: the searches appear one at a time,
    each `in_progress`, then `searching`, then `completed`, and the message only once all are done. They
    take the first half of the work, as the service spends part of a response's time searching."""
    clock = ManualClock()
    with running_emulator(EmulatorConfig(), clock=clock) as emu:
        client = make_client(emu)
        created = await client.responses.create(
            model="o3-deep-research",
            input=PROMPT,
            tools=[WEB_SEARCH],
            background=True,
            max_tool_calls=3,
            extra_headers={"x-emulator-latency": "10"},
        )
        record = emu.emulator.records[created.id]
        moments = sorted({entry.offset for entry in record.entries})
        seen: list[tuple[str, list[tuple[str, str]]]] = []
        for moment in moments:
            # A microsecond after each instant: started + offset, in floats, may fall a hair before it.
            clock.advance(record.started + moment + 1e-6 - clock.monotonic())
            raw = await client.responses.with_raw_response.retrieve(created.id)
            polled = check_response(spec, raw.http_response.json())
            items: list[tuple[str, str]] = [
                (item.type, str(getattr(item, "status", "-"))) for item in polled.output
            ]
            seen.append((polled.status or "", items))
    searches_done = next(i for i, (_, items) in enumerate(seen) if ("message", "in_progress") in items)
    assert moments[searches_done] == pytest.approx(0.5 + 9.5 / 2), "searching takes half the work"
    statuses = [status for status, _ in seen]
    assert statuses == ["queued", *["in_progress"] * (len(seen) - 2), "completed"]
    progress: dict[int, list[str]] = {}
    for _, items in seen:
        calls = [step for kind, step in items if kind == "web_search_call"]
        assert calls[:-1] == ["completed"] * (len(calls) - 1), "one search at a time, in order"
        for index, step in enumerate(calls):
            progress.setdefault(index, []).append(step)
        if any(kind == "message" for kind, _ in items):
            assert calls == ["completed"] * 3
    assert len(progress) == 3
    for steps in progress.values():
        assert sorted(set(steps), key=steps.index) == ["in_progress", "searching", "completed"]
