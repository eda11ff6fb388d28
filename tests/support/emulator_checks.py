"""Checks the emulator's tests share: the event grammar of a streamed answer, OpenAI's 400 refusal (on
either route) and that it started nothing, polling a response to its end, and reading a stream the
emulator keeps cutting, resuming it until it ends."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import ResponseStreamEvent

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec, check_response

PROMPT = "Summarise the ticket: the customer's order arrived late and the invoice is wrong."
VERSION = "2025-04-01-preview"
"""The `api-version` the emulator's Azure routes are called with."""


def azure_client(
    endpoint: str, *, api_key: str | None = None, azure_ad_token: str | None = None
) -> openai.AsyncAzureOpenAI:
    """The SDK's Azure client of an emulator at `endpoint` (its URL without `/v1`), retrying nothing."""
    return openai.AsyncAzureOpenAI(
        azure_endpoint=endpoint,
        api_version=VERSION,
        max_retries=0,
        api_key=api_key,
        azure_ad_token=azure_ad_token,
    )


SUMMARY_DELTA = "response.reasoning_summary_text.delta"


def check_grammar(
    events: list[dict[str, Any]], *, background: bool, reasoning: bool, summary: bool = False
) -> None:
    """The whole event order of a simple text answer, numbered 0, 1, 2, … as the service numbers them.

    `summary`: the reasoning item streams its summary (part added, deltas, text done, part done) between
    its `output_item.added` and `.done`; without it there must be no summary event at all."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    types = [e["type"] for e in events]
    head = ["response.created", *(["response.queued"] if background else []), "response.in_progress"]
    summaries = types.count(SUMMARY_DELTA)
    if reasoning:
        head += ["response.output_item.added"]
        if summary:
            assert summaries >= 1
            head += ["response.reasoning_summary_part.added", *[SUMMARY_DELTA] * summaries]
            head += ["response.reasoning_summary_text.done", "response.reasoning_summary_part.done"]
        head += ["response.output_item.done"]
    head += ["response.output_item.added", "response.content_part.added"]
    tail = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    deltas = len(types) - len(head) - len(tail) - 1
    assert deltas >= 1
    assert types == [*head, *["response.output_text.delta"] * deltas, *tail, "response.completed"]
    first = events[0]["response"]
    assert first["status"] == ("queued" if background else "in_progress")
    assert first["output"] == []
    assert first["usage"] is None
    ids = {e["response"]["id"] for e in events if "response" in e}
    assert len(ids) == 1, "lifecycle events must carry one response id"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert done["text"] == text
    final = events[-1]["response"]
    assert final["output"][-1]["content"][0]["text"] == text
    message_index = 1 if reasoning else 0
    about_message = {e["output_index"] for e in events if "item_id" in e and "summary_index" not in e}
    assert about_message == {message_index}
    assert {e["output_index"] for e in events if "summary_index" in e} <= {0}


def check_refusal(
    spec: Spec, exc: openai.BadRequestError, param: str | None, code: str | None, message: str
) -> None:
    body: dict[str, Any] = exc.response.json()
    spec.check("ErrorResponse", body)
    assert exc.status_code == 400
    assert (exc.type, exc.code, exc.param) == ("invalid_request_error", code, param)
    assert body["error"]["message"] == message.format(param=param)


Route = Literal["responses", "chat"]
ROUTES: tuple[Route, ...] = ("responses", "chat")
"""The two create routes a request parameter both take (Responses and Chat Completions)."""


async def refused_create(
    client: AsyncOpenAI, route: Route, model: str, fields: dict[str, Any]
) -> openai.BadRequestError:
    """The 400 a create of `PROMPT` on `route` gets, `fields` sent in its body as given."""
    messages: Any = [{"role": "user", "content": PROMPT}]
    create = (
        client.responses.create(model=model, input=PROMPT, extra_body=fields)
        if route == "responses"
        else client.chat.completions.create(model=model, messages=messages, extra_body=fields)
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await create
    return caught.value


def check_nothing_started(running: RunningEmulator) -> None:
    """No response held, no job in the ledger, and neither the request nor the token bucket charged."""
    emu = running.emulator
    assert emu.records == {}
    assert emu.jobs_listing() == []
    stats = emu.stats()
    assert (stats["held"], stats["jobs"]) == (0, 0)
    assert set(stats["status_codes"]) == {"400"}
    assert emu.requests.level == emu.requests.capacity, "a refused create takes no request from the bucket"
    assert emu.tokens.level == emu.tokens.capacity, "nor any token"


async def final_body(client: AsyncOpenAI, spec: Spec, response_id: str) -> dict[str, Any]:
    """Poll a response every 20 ms until it ends, each body checked against the spec; its last body."""
    for _ in range(200):
        raw = await client.responses.with_raw_response.retrieve(response_id)
        payload: dict[str, Any] = raw.http_response.json()
        check_response(spec, payload)
        if payload["status"] not in ("queued", "in_progress"):
            return payload
        await asyncio.sleep(0.02)
    raise AssertionError(f"{response_id} never finished")


async def read_through_cuts(
    client: AsyncOpenAI, stream: openai.AsyncStream[ResponseStreamEvent], cut: int
) -> tuple[list[dict[str, Any]], int]:
    """Every event of a stream cut after each `cut` events (`drop-stream=K`), resumed from the last
    sequence number each time, and the number of connections it took. Each cut connection must have
    carried exactly `cut` events."""
    events: list[dict[str, Any]] = []
    connections = 0
    while True:
        connections += 1
        got = 0
        try:
            async for event in stream:
                events.append(event.to_dict())
                got += 1
        except openai.APIConnectionError:
            assert got == cut, "the connection is cut after exactly K events"
        else:
            return events, connections
        finally:
            await stream.close()
        stream = await client.responses.retrieve(
            events[0]["response"]["id"], stream=True, starting_after=events[-1]["sequence_number"]
        )
