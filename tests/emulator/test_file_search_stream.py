"""File search streamed: each search's five events (`response.output_item.added`,
`response.file_search_call.in_progress`, `.searching`, `.completed`, `response.output_item.done`) before
the answer, in the service's order and beside web searches' when both tools are offered, one
`annotation.added` per citation after the text deltas, which a file citation adds nothing to; every event
typed by the SDK, and what a search found only in its done item, only when included."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    ResponseFileSearchCallCompletedEvent,
    ResponseFileSearchCallInProgressEvent,
    ResponseFileSearchCallSearchingEvent,
    ResponseFileSearchToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseTextDeltaEvent,
    ToolParam,
)
from openai.types.responses.response_output_text_annotation_added_event import AnnotationFileCitation

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec
from tests.support.emulator_checks import PROMPT
from tests.support.file_search import FILE_SEARCH, RESULTS, check_cited, check_file_citations
from tests.support.sse import raw_sse
from tests.support.web_search import SEARCHES, WEB_SEARCH, check_search_stream, text_part


@pytest.mark.parametrize(
    ("tools", "calls"),
    [
        pytest.param([FILE_SEARCH], {"file_search_call"}, id="files"),
        pytest.param([WEB_SEARCH, FILE_SEARCH], {"file_search_call", "web_search_call"}, id="files-and-web"),
    ],
)
@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("model", ["gpt-4.1", "o3-deep-research"])
async def test_each_file_search_streams_its_five_events_before_the_cited_answer(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    model: str,
    background: bool,
    tools: list[ToolParam],
    calls: set[str],
) -> None:
    body = {"model": model, "input": PROMPT, "tools": tools, "stream": True, "background": background}
    _, frames = await raw_sse(emulator.url, "POST", "/responses", json=body)
    assert all(name == data["type"] for name, data in frames), "the event: line must equal data.type"
    events = [data for _, data in frames]
    count = check_search_stream(spec, events, background=background, reasoning=model != "gpt-4.1")
    fewest, most = SEARCHES[model]
    assert fewest <= count <= most
    final = events[-1]["response"]
    assert {item["type"] for item in final["output"]} - {"reasoning", "message"} <= calls
    polled = await client.responses.retrieve(final["id"])
    assert polled.to_dict() == final
    check_cited(polled, PROMPT)


async def test_the_sdk_types_every_file_search_event_and_the_results_come_once_done(
    client: AsyncOpenAI, spec: Spec
) -> None:
    stream = await client.responses.create(
        model="o4-mini-deep-research", input=PROMPT, tools=[FILE_SEARCH], include=[RESULTS], stream=True
    )
    events = [event async for event in stream]
    count = check_search_stream(spec, [event.to_dict() for event in events], background=False, reasoning=True)
    for kind in (
        ResponseFileSearchCallInProgressEvent,
        ResponseFileSearchCallSearchingEvent,
        ResponseFileSearchCallCompletedEvent,
    ):
        assert sum(isinstance(event, kind) for event in events) == count
    items = [
        event.item
        for event in events
        if isinstance(event, ResponseOutputItemAddedEvent | ResponseOutputItemDoneEvent)
        and isinstance(event.item, ResponseFileSearchToolCall)
    ]
    assert [item.status for item in items] == ["in_progress", "completed"] * count
    assert [item.results is not None for item in items] == [False, True] * count, "found once done"
    notes = [event for event in events if isinstance(event, ResponseOutputTextAnnotationAddedEvent)]
    assert len(notes) == count
    assert all(isinstance(note.annotation, AnnotationFileCitation) for note in notes)
    deltas = "".join(event.delta for event in events if isinstance(event, ResponseTextDeltaEvent))
    assert all(
        note.annotation.index <= len(deltas)
        for note in notes
        if isinstance(note.annotation, AnnotationFileCitation)
    )
    async with client.responses.stream(
        model="o4-mini-deep-research", input=PROMPT, tools=[FILE_SEARCH]
    ) as helper:
        final = await helper.get_final_response()
    assert len(check_file_citations(final, PROMPT)) == count, "the helper's final response keeps every search"
    assert text_part(final).text == deltas


async def test_a_structured_answer_streams_its_file_searches_but_no_annotation(client: AsyncOpenAI) -> None:
    stream = await client.responses.create(
        model="gpt-4.1",
        input=PROMPT,
        text={"format": {"type": "json_object"}},
        tools=[FILE_SEARCH],
        stream=True,
    )
    events = [event async for event in stream]
    assert any(isinstance(event, ResponseFileSearchCallCompletedEvent) for event in events)
    assert not any(isinstance(event, ResponseOutputTextAnnotationAddedEvent) for event in events)
