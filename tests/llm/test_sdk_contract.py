"""What rowrelay relies on in the SDK's private parts, checked against the installed SDK so that an
upgrade that changes them fails here, saying what, rather than somewhere downstream.

`answers.sdk_answer` sets `AsyncStream._decoder`: the SDK's streams read their events through it, and
rowrelay's `DataEvents` passes over the events with no data (a compatible server's keep-alives) that the
SDK's own decoder hands on to fail as JSON, and reads the first bytes `sdk_answer` already took off the
body. If the SDK stops reading through that attribute, every such keep-alive fails its row again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
from openai._streaming import ServerSentEvent

from rowrelay.tasks.llm.answers import DataEvents
from tests.support.canned import Canned, canned_server

EVENTS = (
    b'data: {"type":"response.created","sequence_number":0}\n\n'
    b"event: keepalive\ndata:\n\n"
    b'data: {"type":"response.in_progress","sequence_number":1}\n\n'
    b"data: [DONE]\n\n"
)
"""Two events with a keep-alive between them that has no data: the SDK's decoder hands it on empty."""


class _Counted(DataEvents):
    """`DataEvents`, counting the streams read through it."""

    reads = 0

    async def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[ServerSentEvent]:
        _Counted.reads += 1
        async for event in super().aiter_bytes(iterator):
            yield event


async def test_the_sdks_async_stream_reads_its_events_through_its_decoder_attribute() -> None:
    assert "_decoder" in openai.AsyncStream.__annotations__, (
        "openai.AsyncStream has no `_decoder` any more: answers.sdk_answer sets it to read the SDK's "
        "streams through DataEvents; find what the installed SDK reads its events through"
    )
    async with canned_server(lambda _: Canned(EVENTS, content_type="text/event-stream")) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0)
        try:
            raw = await client.responses.with_raw_response.create(model="m", input="hi", stream=True)
            stream = raw.parse()
            stream._decoder = _Counted()
            seen: list[Any] = []
            try:
                seen.extend([event.type async for event in stream])
            except ValueError as exc:  # the keep-alive's empty data, read as JSON: said below
                seen.append(exc)
        finally:
            await client.close()
    assert _Counted.reads == 1, (
        "the SDK's AsyncStream no longer reads its events through `_decoder`: answers.sdk_answer's "
        "DataEvents (keep-alives with no data passed over, the body's first bytes read back) goes unused"
    )
    assert seen == ["response.created", "response.in_progress"]
