"""The other routes: input items, models, Chat Completions, and the emulator's inspection endpoints."""

from __future__ import annotations

import httpx
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import ResponseInputMessageItem, ResponseInputText, ResponseItem

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec


def input_text(item: ResponseItem) -> str:
    """The text of an input message item's first part (each must be an input message of input_text)."""
    assert isinstance(item, ResponseInputMessageItem), item
    part = item.content[0]
    assert isinstance(part, ResponseInputText), part
    return part.text


async def test_input_items(client: AsyncOpenAI, spec: Spec) -> None:
    created = await client.responses.create(
        model="gpt-4.1",
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
            {"type": "message", "role": "user", "content": "two"},
        ],
        background=True,
    )
    raw = await client.responses.input_items.with_raw_response.list(created.id, order="asc")
    spec.check("ResponseItemList", raw.http_response.json())
    page = await client.responses.input_items.list(created.id, order="asc")
    texts = [input_text(item) for item in page.data]
    assert texts == ["one", "two"]
    newest_first = await client.responses.input_items.list(created.id)
    assert [item.id for item in newest_first.data] == [item.id for item in reversed(page.data)]
    plain = await client.responses.create(model="gpt-4.1", input="just text")
    items = (await client.responses.input_items.list(plain.id)).data
    assert isinstance(items[0], ResponseInputMessageItem)
    assert items[0].role == "user"


async def test_models(client: AsyncOpenAI, spec: Spec) -> None:
    raw = await client.models.with_raw_response.list()
    spec.check("ListModelsResponse", raw.http_response.json())
    models = [model.id async for model in client.models.list()]
    assert {"o3", "gpt-4.1-mini", "gpt-5"} <= set(models)


async def test_chat_completions(client: AsyncOpenAI, spec: Spec) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4.1-mini", messages=messages)
    spec.check("CreateChatCompletionResponse", raw.http_response.json())
    completion = await client.chat.completions.create(model="gpt-4.1-mini", messages=messages)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    stream = await client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == completion.choices[0].message.content, "same request, same seed, same answer"
    *answer, tail = chunks
    assert (tail.choices, tail.usage) == ([], completion.usage), "the usage comes last, on its own"
    assert answer[-1].choices[0].finish_reason == "stop"


async def test_inspection_endpoints(client: AsyncOpenAI, emulator: RunningEmulator) -> None:
    done = await client.responses.create(
        model="o3",
        input="hi",
        background=True,
        metadata={"row": "1"},
        extra_headers={"x-emulator-latency": "0"},
    )
    stuck = await client.responses.create(
        model="gpt-4.1", input="hi", background=True, extra_headers={"x-emulator-fault": "stuck"}
    )
    await client.responses.retrieve(done.id)
    await client.responses.cancel(stuck.id)
    stream = await client.responses.create(model="gpt-4.1", input="hi", stream=True)
    [event async for event in stream]
    async with httpx.AsyncClient(base_url=emulator.url.removesuffix("/v1")) as http:
        rows = (await http.get("/emulator/responses")).json()["data"]
        await http.get("/v1/responses/resp_missing")
        stats = (await http.get("/emulator/stats")).json()
    fields = {"id", "status", "background", "stream", "model", "metadata", "created_at", "completed_at"}
    # float seconds, for lag measurements: when it was made, finished, and first told finished to a client
    precise = {"created_at_precise", "completed_at_precise", "ended_told_at_precise"}
    delivery = {"answered", "fault"}  # whether the create's answer reached its client, and what met it
    assert all(set(row) == fields | precise | delivery for row in rows)
    assert all(row["answered"] is True and row["fault"] is None for row in rows)
    by_id = {row["id"]: row for row in rows}
    assert by_id[done.id]["status"] == "completed"
    assert by_id[done.id]["completed_at_precise"] >= by_id[done.id]["created_at_precise"]
    assert by_id[stuck.id]["completed_at_precise"] is None
    assert by_id[done.id]["ended_told_at_precise"] >= by_id[done.id]["completed_at_precise"]  # the poll
    assert by_id[stuck.id]["ended_told_at_precise"] is None  # cancelled: never ended on its own
    assert by_id[done.id]["metadata"] == {"row": "1"}
    assert by_id[done.id]["completed_at"] >= by_id[done.id]["created_at"]
    assert by_id[stuck.id]["status"] == "cancelled"
    assert by_id[stuck.id]["completed_at"] is None
    streamed = [row for row in rows if row["stream"]]
    assert len(streamed) == 1
    assert streamed[0]["background"] is False
    assert streamed[0]["ended_told_at_precise"] >= streamed[0]["completed_at_precise"]  # its terminal event
    assert stats["routes"]["POST /v1/responses"] == 3
    assert stats["routes"]["GET /v1/responses/{response_id}"] == 2
    assert stats["routes"]["POST /v1/responses/{response_id}/cancel"] == 1
    assert stats["status_codes"] == {"200": 6, "404": 1}
    assert stats["final_status"] == {"completed": 2, "cancelled": 1}
    assert stats["held"] == 3
    assert stats["jobs"] == 3
    assert stats["unanswered_creates"] == 0
