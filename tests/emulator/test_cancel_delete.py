"""Cancel and delete: states, idempotence, errors, and streams that end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import ResponseOutputMessage, ResponseStreamEvent

from tests.emulator.contract import Spec, check_response
from tests.support.events import TERMINAL_EVENTS, response_of

STUCK = {"x-emulator-fault": "stuck"}


async def cancel_checked(client: AsyncOpenAI, spec: Spec, response_id: str) -> dict[str, object]:
    raw = await client.responses.with_raw_response.cancel(response_id)
    payload: dict[str, object] = raw.http_response.json()
    check_response(spec, payload)
    return payload


async def test_cancel_from_queued_is_idempotent(client: AsyncOpenAI, spec: Spec) -> None:
    created = await client.responses.create(model="gpt-4.1", input="hi", background=True, extra_headers=STUCK)
    await asyncio.sleep(0.05)
    assert (await client.responses.retrieve(created.id)).status == "queued", "stuck stays queued"
    first = await cancel_checked(client, spec, created.id)
    assert first["status"] == "cancelled"
    assert first["usage"] is None
    assert first["completed_at"] is None
    second = await cancel_checked(client, spec, created.id)
    assert second == first
    assert (await client.responses.retrieve(created.id)).status == "cancelled"


async def test_cancel_from_in_progress_keeps_partial_output(client: AsyncOpenAI, spec: Spec) -> None:
    created = await client.responses.create(
        model="gpt-4.1", input="hi", background=True, extra_headers={"x-emulator-latency": "0.5"}
    )
    for _ in range(100):
        if (await client.responses.retrieve(created.id)).status == "in_progress":
            break
        await asyncio.sleep(0.01)
    cancelled = await cancel_checked(client, spec, created.id)
    assert cancelled["status"] == "cancelled"
    await asyncio.sleep(0.6)
    later = await client.responses.retrieve(created.id)
    assert later.status == "cancelled", "a cancelled response never completes afterwards"
    assert later.output, "the output begun before the cancel is kept"
    for item in later.output:
        assert isinstance(item, ResponseOutputMessage)
        assert item.status == "in_progress"


async def test_cancel_of_a_completed_background_response_returns_it_unchanged(
    client: AsyncOpenAI, spec: Spec
) -> None:
    created = await client.responses.create(model="gpt-4.1", input="hi", background=True)
    before = (await client.responses.with_raw_response.retrieve(created.id)).http_response.json()
    assert before["status"] == "completed"
    assert await cancel_checked(client, spec, created.id) == before


async def test_cancel_of_a_foreground_response_is_refused(client: AsyncOpenAI) -> None:
    done = await client.responses.create(model="gpt-4.1", input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.cancel(done.id)
    assert caught.value.type == "invalid_request_error"
    assert caught.value.param is None


async def test_cancel_of_an_unknown_response_is_404(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.cancel("resp_" + "0" * 48)
    assert caught.value.message == f"Error code: 404 - Response with id 'resp_{'0' * 48}' not found."


async def test_an_open_stream_ends_when_its_response_is_cancelled(client: AsyncOpenAI) -> None:
    stream = await client.responses.create(
        model="gpt-4.1", input="hi", background=True, stream=True, extra_headers=STUCK
    )
    seen = []
    started = asyncio.Event()

    async def read() -> None:
        async for event in stream:
            seen.append(event)
            started.set()

    reader = asyncio.create_task(read())
    await started.wait()
    await client.responses.cancel(response_of(seen[0]).id)
    await asyncio.wait_for(reader, timeout=5)
    assert [e.type for e in seen] == ["response.created", "response.queued"]
    replay = [e async for e in await client.responses.retrieve(response_of(seen[0]).id, stream=True)]
    assert [response_of(e).status for e in replay] == ["queued", "queued"], "replay shows history, not now"


async def test_an_open_resume_stream_ends_on_cancel_while_in_progress(client: AsyncOpenAI) -> None:
    created = await client.responses.create(
        model="gpt-4.1", input="hi", background=True, stream=True, extra_headers={"x-emulator-latency": "10"}
    )
    first = [e async for e in _take(created, 3)]
    await created.close()
    assert [e.type for e in first] == ["response.created", "response.queued", "response.in_progress"]
    response_id = response_of(first[0]).id
    cursor = first[-1].sequence_number
    resumed = await client.responses.retrieve(response_id, stream=True, starting_after=cursor)
    reader = asyncio.create_task(_drain(resumed))
    await asyncio.sleep(0.05)
    assert (await client.responses.retrieve(response_id)).status == "in_progress"
    assert (await client.responses.cancel(response_id)).status == "cancelled"
    # The stream ends cleanly (no cut, no error) long before the 10 s response would have finished...
    delivered = await asyncio.wait_for(reader, timeout=3)
    assert delivered, "the resumed stream was live: it delivered the output items begun before the cancel"
    assert resumed.response.is_closed
    # ...with no terminal event: the stream event union has no `response.cancelled`, and a
    # cancelled response never reaches completed/failed/incomplete.
    assert not {e.type for e in delivered} & TERMINAL_EVENTS
    # What it delivered is exactly the history after the cursor up to the cancel, nothing after it.
    history = [e async for e in await client.responses.retrieve(response_id, stream=True)]
    assert [e.sequence_number for e in delivered] == [
        e.sequence_number for e in history if e.sequence_number > cursor
    ]
    assert (await client.responses.retrieve(response_id)).status == "cancelled"


async def _take(
    stream: openai.AsyncStream[ResponseStreamEvent], count: int
) -> AsyncIterator[ResponseStreamEvent]:
    async for event in stream:
        yield event
        count -= 1
        if count == 0:
            return


async def _drain(stream: openai.AsyncStream[ResponseStreamEvent]) -> list[ResponseStreamEvent]:
    return [event async for event in stream]


async def test_delete_then_404_everywhere(client: AsyncOpenAI) -> None:
    created = await client.responses.create(model="gpt-4.1", input="hi", background=True)
    raw = await client.responses.with_raw_response.delete(created.id)
    assert raw.http_response.status_code == 200
    assert raw.http_response.json() == {"id": created.id, "object": "response", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id, stream=True)
    with pytest.raises(openai.NotFoundError):
        await client.responses.cancel(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.delete(created.id)


async def test_delete_ends_an_open_stream(client: AsyncOpenAI) -> None:
    stream = await client.responses.create(
        model="gpt-4.1", input="hi", background=True, stream=True, extra_headers=STUCK
    )
    first = [e async for e in _take(stream, 2)]
    reader = asyncio.create_task(_drain(stream))
    await client.responses.delete(response_of(first[0]).id)
    assert await asyncio.wait_for(reader, timeout=5) == []
