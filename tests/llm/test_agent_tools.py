"""Agent Framework tool rounds through `AgentBackend`, against the emulator over a real socket.

The agent has one tool, a plain function that counts its calls. The emulator's model calls it, AF runs it
inside whichever backend call read the call (a poll, a resume, the create's stream) and creates a
follow-up response with its output; the backend reports the follow-up's id and keeps nothing, so a new
backend (a new process) given only that id finishes the row without running the tool or creating again.
The emulator runs with no latency: every poll sees the work done, and nothing here waits on a clock.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import httpx2
import openai
import pytest
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm import (
    BackgroundBackend,
    MaybeSentError,
    RowRequest,
    Snapshot,
    StreamUpdate,
    in_background,
)
from rowrelay.tasks.llm.agent_backend import AgentBackend, AgentFactory
from rowrelay.tasks.llm.client import make_backend
from tests.llm.agent_factories import ANSWER, CountingTool
from tests.support.runs import creates_per_row, settings_for

ROW = "row-0007"
REQUEST = RowRequest(ROW, "Where is ticket 7?", "Be brief.", "gpt-4.1-mini", {"rowrelay_row": ROW}, 500)


@pytest.fixture
def tool() -> CountingTool:
    return CountingTool()


def backend_for(emulator: RunningEmulator, factory: AgentFactory, **settings: Any) -> BackgroundBackend:
    backend = in_background(make_backend(settings_for(emulator, **settings), agent=factory))
    assert backend is not None
    return backend


@pytest.fixture
async def backend(emulator: RunningEmulator, tool: CountingTool) -> AsyncIterator[BackgroundBackend]:
    backend = backend_for(emulator, tool.factory)
    yield backend
    await backend.aclose()


async def until_moved(backend: BackgroundBackend, response_id: str) -> Snapshot:
    """Poll `response_id` until the snapshot names another response (a tool round) or ends."""
    while True:
        snapshot = await backend.retrieve(response_id)
        if snapshot.response_id != response_id or snapshot.terminal:
            return snapshot


async def until_terminal(backend: BackgroundBackend, response_id: str) -> Snapshot:
    while True:
        snapshot = await backend.retrieve(response_id)
        assert snapshot.response_id == response_id, "a text answer moves the row nowhere"
        if snapshot.terminal:
            return snapshot


async def test_a_poll_follows_the_tool_round_to_the_follow_up(
    emulator: RunningEmulator, tool: CountingTool, backend: BackgroundBackend
) -> None:
    first = await backend.create(REQUEST)
    assert first.response_id is not None
    assert first.status == "queued"
    moved = await until_moved(backend, first.response_id)
    follow_up = moved.response_id
    assert follow_up is not None
    assert follow_up != first.response_id
    assert not moved.terminal, "the follow-up is a background job, reported as soon as it is created"
    assert tool.calls == 1
    done = await until_terminal(backend, follow_up)
    assert done.status == "completed"
    assert done.output_text is not None
    assert ANSWER in done.output_text
    assert tool.calls == 1
    assert creates_per_row(emulator)[ROW] == 2
    # The follow-up is the row's request again (AF alone would send none of this when it continues a poll).
    body = emulator.emulator.records[follow_up].body
    assert body["previous_response_id"] == first.response_id
    assert body["background"] is True
    assert body["metadata"] == {"rowrelay_row": ROW}
    assert body["instructions"] == "Answer from the tracker.\nBe brief."
    assert body["max_output_tokens"] == 500


async def test_the_rows_reasoning_and_tier_reach_its_create_and_the_tool_rounds_follow_up(
    emulator: RunningEmulator, tool: CountingTool
) -> None:
    """The follow-up is created inside a poll, from the first response alone (AF sends none of the row's
    options when it continues): the effort and tier it was served at are carried over."""
    backend = backend_for(emulator, tool.factory, model="o4-mini")
    # No 500-token ceiling: at high effort the follow-up's reasoning alone can pass it (its draw depends
    # on the first response's id), and the row would end incomplete, with no summary, one run in six.
    request = dataclasses.replace(
        REQUEST, model="o4-mini", reasoning_effort="high", reasoning_summary="concise", service_tier="flex",
        max_output_tokens=None,
    )  # fmt: skip
    try:
        first = await backend.create(request)
        assert first.response_id is not None
        follow_up = (await until_moved(backend, first.response_id)).response_id
        assert follow_up is not None
        assert follow_up != first.response_id
        done = await until_terminal(backend, follow_up)
    finally:
        await backend.aclose()
    assert done.status == "completed"
    assert done.reasoning_tokens
    assert done.reasoning_summary  # read from the follow-up's reasoning item, as any response's
    for response_id in (first.response_id, follow_up):
        body = emulator.emulator.records[response_id].body
        assert body["model"] == "o4-mini"
        assert body["reasoning"] == {"effort": "high", "summary": "concise"}
        assert body["service_tier"] == "flex"


async def test_the_rows_temperature_reaches_its_create_and_the_tool_rounds_follow_up(
    emulator: RunningEmulator, tool: CountingTool, backend: BackgroundBackend
) -> None:
    first = await backend.create(dataclasses.replace(REQUEST, temperature=0.3))
    assert first.response_id is not None
    follow_up = (await until_moved(backend, first.response_id)).response_id
    assert follow_up is not None
    assert (await until_terminal(backend, follow_up)).status == "completed"
    for response_id in (first.response_id, follow_up):
        assert emulator.emulator.records[response_id].body["temperature"] == 0.3


async def test_a_new_backend_given_the_follow_up_finishes_without_a_create_or_a_tool_run(
    emulator: RunningEmulator, tool: CountingTool
) -> None:
    crashed = backend_for(emulator, tool.factory)
    try:
        first = await crashed.create(REQUEST)
        assert first.response_id is not None
        follow_up = (await until_moved(crashed, first.response_id)).response_id
    finally:
        await crashed.aclose()  # the process dies; all that survives is the id the runner recorded
    assert follow_up is not None
    assert follow_up != first.response_id
    fresh = backend_for(emulator, tool.factory)
    try:
        done = await until_terminal(fresh, follow_up)
    finally:
        await fresh.aclose()
    assert done.status == "completed"
    assert done.output_text is not None
    assert ANSWER in done.output_text
    assert tool.calls == 1
    assert creates_per_row(emulator)[ROW] == 2


async def test_a_stream_moves_on_to_the_follow_up_and_restarts_its_numbering(
    emulator: RunningEmulator, tool: CountingTool, backend: BackgroundBackend
) -> None:
    seen = [update async for update in backend.create_stream(REQUEST)]
    ids = [u.snapshot.response_id for u in seen if u.snapshot is not None]
    first, follow_up = ids[0], ids[-1]
    assert first != follow_up
    assert set(ids) == {first, follow_up}
    moved_at = next(
        i for i, u in enumerate(seen) if u.snapshot is not None and u.snapshot.response_id == follow_up
    )
    numbers = [u.sequence_number for u in seen]
    assert numbers == [*range(moved_at), *range(len(seen) - moved_at)], "each response counts from 0"
    assert seen[moved_at - 1].snapshot is None, "a response that only asked for tools is not the row's end"
    final = seen[-1].snapshot
    assert final is not None
    assert final.status == "completed"
    assert final.output_text is not None
    assert ANSWER in final.output_text
    assert [u.snapshot.terminal for u in seen if u.snapshot is not None].count(True) == 1
    assert tool.calls == 1
    assert creates_per_row(emulator)[ROW] == 2
    assert follow_up is not None
    assert emulator.emulator.records[follow_up].body["stream"] is True


async def test_a_resume_yields_the_rest_of_the_first_response_then_the_whole_follow_up(
    emulator: RunningEmulator, tool: CountingTool, backend: BackgroundBackend
) -> None:
    stream = backend.create_stream(REQUEST)
    cut = [update async for update in _take(stream, 6)]  # mid-answer: the tool has not run yet
    assert cut[0].snapshot is not None
    first = cut[0].snapshot.response_id
    assert first is not None
    assert tool.calls == 0
    cursor = cut[-1].sequence_number
    resumed = [update async for update in backend.resume(first, cursor)]
    moved_at = next(
        i for i, u in enumerate(resumed) if u.snapshot is not None and u.snapshot.response_id != first
    )
    numbers = [u.sequence_number for u in resumed]
    assert numbers == [*range(cursor + 1, cursor + 1 + moved_at), *range(len(resumed) - moved_at)]
    final = resumed[-1].snapshot
    assert final is not None
    assert final.status == "completed"
    assert final.response_id not in (None, first)
    assert tool.calls == 1
    assert creates_per_row(emulator)[ROW] == 2


async def _take(stream: AsyncGenerator[StreamUpdate, None], count: int) -> AsyncIterator[StreamUpdate]:
    """The first `count` updates, then the stream is closed (a dropped connection, as the runner sees it)."""
    try:
        for _ in range(count):
            yield await anext(stream)
    finally:
        await stream.aclose()


class LosesCreateAnswers(httpx2.AsyncBaseTransport):
    """Sends every request, then loses the answer to each create after the first (a read timeout)."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.creates = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/responses"):
            self.creates += 1
            if self.creates > 1:
                await response.aclose()
                raise httpx2.ReadTimeout("the answer was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def lossy_client(emulator: RunningEmulator, retries: int) -> openai.AsyncOpenAI:
    http = openai.DefaultAsyncHttpx2Client(transport=LosesCreateAnswers())
    return openai.AsyncOpenAI(base_url=emulator.url, api_key="x", max_retries=retries, http_client=http)


async def test_a_tool_rounds_create_that_gets_no_answer_is_maybe_sent_and_not_retried(
    emulator: RunningEmulator, tool: CountingTool
) -> None:
    # `reads` would retry a lost create twice: the follow-up must not go through it.
    creates, reads = lossy_client(emulator, 0), lossy_client(emulator, 2)
    backend = AgentBackend(tool.factory, creates=creates, reads=reads, model="gpt-4.1-mini")
    try:
        first = await backend.create(REQUEST)
        assert first.response_id is not None
        with pytest.raises(MaybeSentError):
            await backend.retrieve(first.response_id)
    finally:
        await backend.aclose()
    assert tool.calls == 1
    assert creates_per_row(emulator)[ROW] == 2, "the lost follow-up was created once, not retried"


async def test_a_users_agent_with_sdk_retries_runs_on_a_copy_with_a_warning(
    emulator: RunningEmulator, tool: CountingTool, caplog: pytest.LogCaptureFixture
) -> None:
    chat = OpenAIChatClient(
        model="gpt-4.1-mini", api_key="x", base_url=emulator.url
    )  # SDK default: 2 retries
    agent = tool.factory(chat)
    assert chat.client.max_retries > 0
    try:
        with caplog.at_level(logging.WARNING, logger="rowrelay.tasks.llm.agent_backend"):
            backend = AgentBackend(agent)
            await AgentBackend(agent).aclose()  # closed: its filter off AF's logger, as a run leaves it
        assert chat.client.max_retries == 2  # the caller's own client is left as it was
        warnings = [r.getMessage() for r in caplog.records if "turned off" in r.getMessage()]
        assert len(warnings) == 2  # each backend runs on a copy of its own, and says so
        assert "Idempotency-Key" in warnings[0]
        first = await backend.create(REQUEST)
        assert first.response_id is not None
        assert (await until_moved(backend, first.response_id)).response_id != first.response_id
        await backend.aclose()
    finally:
        await chat.client.close()  # the copy shares the original's connection pool
    assert tool.calls == 1


async def test_a_users_agent_on_an_unknown_sdk_client_is_refused(
    emulator: RunningEmulator, tool: CountingTool
) -> None:
    chat = OpenAIChatClient(model="gpt-4.1-mini", api_key="x", base_url=emulator.url)
    sdk = chat.client
    chat.client = cast(openai.AsyncOpenAI, object())  # e.g. a tracing wrapper rowrelay cannot rewrap
    try:
        with pytest.raises(UsageError, match=r"AsyncOpenAI\(max_retries=0"):
            AgentBackend(tool.factory(chat))
    finally:
        await sdk.close()
