"""Reasoning summaries: `reasoning.summary` is refused where OpenAI refuses it, and a reasoning model asked
for one writes it into its reasoning item, deterministically, and streams it in the summary events
between the item's `output_item.added` and `.done`."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    ResponseReasoningItem,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
)
from openai.types.shared_params import Reasoning

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.emulator.payloads import response_object
from tests.emulator.contract import Spec, check_event, check_response
from tests.support.emulator_checks import PROMPT, check_grammar, check_refusal, final_body, read_through_cuts
from tests.support.sse import raw_sse

LATENCY = {"x-emulator-latency": "0.2"}
SUMMARY_EVENTS = (
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.reasoning_summary_part.done",
)


def summary_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The `summary` of a response's reasoning item (which is always its first output item)."""
    item = response["output"][0]
    assert item["type"] == "reasoning", response["output"]
    summary: list[dict[str, Any]] = item["summary"]
    return summary


def sentences(text: str) -> list[str]:
    """A summary's sentences, after checking its shape: a bold title, a blank line, plain sentences."""
    title, body = text.split("\n\n")
    assert re.fullmatch(r"\*\*[A-Z][a-z]+ the [a-z]+\*\*", title), title
    found = re.findall(r"[A-Z][a-z ]+\.", body)
    assert " ".join(found) == body, body
    return found


async def background(client: AsyncOpenAI, spec: Spec, model: str, reasoning: Reasoning) -> dict[str, Any]:
    created = await client.responses.create(model=model, input=PROMPT, background=True, reasoning=reasoning)
    check_response(spec, created.to_dict())
    assert created.output == [], "a queued response has no output yet"
    final = await final_body(client, spec, created.id)
    assert final["status"] == "completed"
    return final


INVALID = "Invalid value: '{}'. Supported values are: 'auto', 'concise', and 'detailed'."
UNSUPPORTED = "Unsupported parameter: 'reasoning.summary' is not supported with this model."
NOT_A_STRING = "Invalid type for 'reasoning.summary': expected a string, but got an integer instead."
SENTENCES = {"concise": (1,), "auto": (2,), "detailed": (3, 4)}
"""How many sentences each kind of summary has."""


@pytest.mark.parametrize(
    ("model", "summary", "code", "message"),
    [
        pytest.param("gpt-5", "verbose", "invalid_value", INVALID.format("verbose"), id="not-in-the-enum"),
        pytest.param(
            "gpt-4.1", "brief", "invalid_value", INVALID.format("brief"), id="not-in-it-nor-reasoning"
        ),
        pytest.param("o3", 1, "invalid_type", NOT_A_STRING, id="not-a-string"),
        pytest.param(
            "gpt-4.1-mini", "auto", "unsupported_parameter", UNSUPPORTED, id="not-a-reasoning-model"
        ),
    ],
)
async def test_a_summary_the_model_does_not_write_is_refused_in_openais_words(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    model: str,
    summary: object,
    code: str,
    message: str,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(
            model=model, input=PROMPT, extra_body={"reasoning": {"summary": summary}}
        )
    check_refusal(spec, caught.value, "reasoning.summary", code, message)
    assert emulator.emulator.records == {}, "nothing is created by a refused request"


async def test_a_polled_reasoning_item_carries_a_summary_as_long_as_asked(
    client: AsyncOpenAI, spec: Spec
) -> None:
    plain = await background(client, spec, "gpt-5", {})
    texts: dict[str, str] = {}
    for kind in ("concise", "auto", "detailed"):
        final = await background(client, spec, "gpt-5", {"summary": kind})
        assert final["reasoning"] == {"effort": "medium", "summary": kind}
        (part,) = summary_of(final)
        assert part["type"] == "summary_text"
        texts[kind] = part["text"]
        assert len(sentences(part["text"])) in SENTENCES[kind], "1, 2 and 3 or 4 sentences: each its own"
        again = await background(client, spec, "gpt-5", {"summary": kind})
        assert summary_of(again) == summary_of(final), "the same request always gets the same summary"
        # The summary is written apart from the answer: the text and every token count are unchanged.
        assert final["output"][1]["content"] == plain["output"][1]["content"]
        assert final["usage"] == plain["usage"]
    assert texts["auto"].startswith(texts["concise"]), "a shorter summary is the start of a longer one"


@pytest.mark.parametrize(
    ("model", "reasoning", "reasons"),
    [
        pytest.param("gpt-5", {}, True, id="none-asked"),
        pytest.param("o3", {"effort": "high", "summary": None}, True, id="null"),
        pytest.param("gpt-4.1-mini", {"summary": None}, False, id="null-on-a-model-that-does-not-reason"),
        pytest.param("gpt-5.1", {"effort": "none", "summary": "detailed"}, False, id="effort-none"),
    ],
)
async def test_no_summary_is_written_unless_asked_and_reasoned(
    client: AsyncOpenAI, spec: Spec, model: str, reasoning: Reasoning, reasons: bool
) -> None:
    """At effort `none` there is no reasoning item, so no summary, though the one asked is echoed."""
    final = await background(client, spec, model, reasoning)
    assert final["reasoning"]["summary"] == reasoning.get("summary")
    items = [item for item in final["output"] if item["type"] == "reasoning"]
    assert [item["summary"] for item in items] == ([[]] if reasons else [])
    stream = await client.responses.create(model=model, input=PROMPT, reasoning=reasoning, stream=True)
    events = [event.to_dict() async for event in stream]
    for event in events:
        check_event(spec, event)
    assert not {e["type"] for e in events} & set(SUMMARY_EVENTS)
    check_grammar(events, background=False, reasoning=reasons)


def check_summary_stream(spec: Spec, events: list[dict[str, Any]], *, background: bool, kind: str) -> str:
    """Each event against the spec, the grammar with the summary events, and the summary they carry
    agreeing everywhere; returns it."""
    for event in events:
        check_event(spec, event)
    check_grammar(events, background=background, reasoning=True, summary=True)
    reasoning_id = events[-1]["response"]["output"][0]["id"]
    deltas = [e for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    text = "".join(e["delta"] for e in deltas)
    assert len(deltas) >= 2, "the summary streams in pieces, as the answer does"
    assert all("obfuscation" in e for e in deltas), "delta events are padded"
    for event in events:
        if event["type"] in SUMMARY_EVENTS:
            where = (event["item_id"], event["output_index"], event["summary_index"])
            assert where == (reasoning_id, 0, 0)
    by_type = {e["type"]: e for e in events if e["type"] != "response.reasoning_summary_text.delta"}
    assert by_type["response.reasoning_summary_part.added"]["part"] == {"type": "summary_text", "text": ""}
    assert by_type["response.reasoning_summary_text.done"]["text"] == text
    assert by_type["response.reasoning_summary_part.done"]["part"] == {"type": "summary_text", "text": text}
    added, done = [
        e for e in events if e["type"].startswith("response.output_item.") and e["output_index"] == 0
    ]
    assert added["item"]["summary"] == [], "the item is added before its summary is written"
    assert done["item"]["summary"] == [{"type": "summary_text", "text": text}]
    assert summary_of(events[-1]["response"]) == done["item"]["summary"]
    assert len(sentences(text)) in SENTENCES[kind]
    return text


@pytest.mark.parametrize("background", [True, False])
async def test_raw_stream_carries_the_summary_between_the_reasoning_items_events(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec, background: bool
) -> None:
    body = {"model": "o3", "input": PROMPT, "reasoning": {"summary": "detailed"}, "stream": True}
    body["background"] = background
    _, frames = await raw_sse(emulator.url, "POST", "/responses", json=body, headers=LATENCY)
    assert all(name == data["type"] for name, data in frames), "the event: line must equal data.type"
    events = [data for _, data in frames]
    text = check_summary_stream(spec, events, background=background, kind="detailed")
    polled = await final_body(client, spec, events[0]["response"]["id"])
    assert summary_of(polled) == [{"type": "summary_text", "text": text}]


async def test_the_sdk_parses_the_summary_events(client: AsyncOpenAI, spec: Spec) -> None:
    stream = await client.responses.create(
        model="gpt-5-mini", input=PROMPT, reasoning={"summary": "auto"}, stream=True, extra_headers=LATENCY
    )
    events = [event async for event in stream]
    added, *deltas, text_done, part_done = [e for e in events if e.type in SUMMARY_EVENTS]
    assert isinstance(added, ResponseReasoningSummaryPartAddedEvent)
    pieces = [e.delta for e in deltas if isinstance(e, ResponseReasoningSummaryTextDeltaEvent)]
    assert len(pieces) == len(deltas) >= 2
    assert isinstance(text_done, ResponseReasoningSummaryTextDoneEvent)
    assert isinstance(part_done, ResponseReasoningSummaryPartDoneEvent)
    text = text_done.text
    assert "".join(pieces) == text == part_done.part.text
    check_summary_stream(spec, [event.to_dict() for event in events], background=False, kind="auto")
    # The SDK's stream helper accumulates the same events into the final response.
    async with client.responses.stream(
        model="gpt-5-mini", input=PROMPT, reasoning={"summary": "auto"}
    ) as helper:
        final = await helper.get_final_response()
    item = final.output[0]
    assert isinstance(item, ResponseReasoningItem)
    assert [part.text for part in item.summary] == [text]


async def test_snapshots_show_the_summary_once_the_reasoning_item_is_done(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    """A poll at any instant shows the response as its timeline stands then (a fold over its entries):
    before the reasoning item's `output_item.done`, no summary; from it on, the whole summary."""
    created = await client.responses.create(
        model="o3", input=PROMPT, reasoning={"summary": "concise"}, background=True
    )
    final = await final_body(client, spec, created.id)
    record = emulator.emulator.records[created.id]
    entries = record.entries
    done_at = [entry.kind for entry in entries].index("reasoning_done")
    assert "summary_delta" in {entry.kind for entry in entries[:done_at]}
    for seen in range(1, len(entries) + 1):
        snapshot = response_object(record, entries[:seen])
        check_response(spec, snapshot)
        reasoning = [item for item in snapshot["output"] if item["type"] == "reasoning"]
        if seen <= done_at:
            assert reasoning in ([], [{"id": record.reasoning_id, "type": "reasoning", "summary": []}])
        else:
            assert summary_of(snapshot) == summary_of(final)


async def test_a_resume_from_the_middle_of_the_summary_replays_the_rest_exactly(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    body = {
        "model": "o3",
        "input": PROMPT,
        "reasoning": {"summary": "auto"},
        "background": True,
        "stream": True,
    }
    _, full = await raw_sse(emulator.url, "POST", "/responses", json=body)
    events = [data for _, data in full]
    check_summary_stream(spec, events, background=True, kind="auto")
    deltas = [e["sequence_number"] for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert len(deltas) >= 3
    for cursor in (deltas[0], deltas[len(deltas) // 2], deltas[-1]):
        stream = await client.responses.retrieve(
            events[0]["response"]["id"], stream=True, starting_after=cursor
        )
        resumed = [event.to_dict() async for event in stream]
        assert resumed == events[cursor + 1 :]


async def test_a_stream_cut_inside_the_summary_resumes_with_exactly_the_missing_events(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    """drop-stream=K cuts every connection after K events: K = 6 cuts the first one right after the first
    summary delta (created, queued, in_progress, the item added, the part added, the delta), the next
    ones further into the summary and the answer."""
    cut = 6
    stream = await client.responses.create(
        model="o3",
        input=PROMPT,
        reasoning={"summary": "detailed"},
        background=True,
        stream=True,
        extra_headers={"x-emulator-fault": f"drop-stream={cut}", **LATENCY},
    )
    events, _ = await read_through_cuts(client, stream, cut)
    assert events[cut - 1]["type"] == "response.reasoning_summary_text.delta", (
        "the first cut is in the summary"
    )
    check_summary_stream(spec, events, background=True, kind="detailed")
    response_id = events[0]["response"]["id"]
    emulator.emulator.records[response_id].drop_after = None  # the fault cuts every connection: lift it
    _, replay = await raw_sse(emulator.url, "GET", f"/responses/{response_id}", params={"stream": "true"})
    assert events == [data for _, data in replay], "the pieces make up the one stream, as numbered"
