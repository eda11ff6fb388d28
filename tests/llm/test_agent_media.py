"""A row's images and files through an Agent Framework agent, against the emulator over a real socket: AF
writes them as the Responses API's parts (detail included), by create and by stream; an image given by
file id, which AF would send as a file, is refused before anything is sent."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import BackgroundBackend, RequestRejectedError, RowRequest, in_background
from rowrelay.tasks.llm.client import make_backend
from rowrelay.tasks.media_refs import Attachment
from tests.llm.agent_factories import make_agent
from tests.support.runs import settings_for

PNG = (  # a 1x1 PNG
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5E"
    "rkJggg=="
)
PDF = "data:application/pdf;base64,JVBERi0xLjcK"
ATTACHED = (
    Attachment("image", "https://example.com/cat.jpg"),
    Attachment("image", PNG),
    Attachment("file", "https://example.com/terms.pdf"),
    Attachment("file", PDF, filename="contract.pdf"),
    Attachment("file", "file-6F2ksmvXxt4VdoqmHRw6kL"),
)
REQUEST = RowRequest(
    "row-0001", "What do these say?", None, "gpt-4.1-mini", {"rowrelay_row": "row-0001"},
    attachments=ATTACHED, image_detail="low",
)  # fmt: skip
SENT = [
    {"type": "input_text", "text": "What do these say?"},
    {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "low"},
    {"type": "input_image", "image_url": PNG, "detail": "low"},
    {"type": "input_file", "file_url": "https://example.com/terms.pdf"},
    {"type": "input_file", "file_data": PDF, "filename": "contract.pdf"},
    {"type": "input_file", "file_id": "file-6F2ksmvXxt4VdoqmHRw6kL"},
]


@pytest.fixture
async def backend(emulator: RunningEmulator) -> AsyncIterator[BackgroundBackend]:
    backend = in_background(make_backend(settings_for(emulator), agent=make_agent))
    assert backend is not None
    yield backend
    await backend.aclose()


async def test_an_agents_row_sends_its_images_and_files(
    emulator: RunningEmulator, backend: BackgroundBackend
) -> None:
    created = await backend.create(REQUEST)
    assert created.response_id is not None
    [message] = emulator.emulator.records[created.response_id].body["input"]
    assert message["content"] == SENT


async def test_an_agents_streamed_row_sends_them_too(
    emulator: RunningEmulator, backend: BackgroundBackend
) -> None:
    stream = backend.create_stream(REQUEST)
    try:
        first = await anext(stream)
    finally:
        await stream.aclose()
    assert first.snapshot is not None
    assert first.snapshot.response_id is not None
    [message] = emulator.emulator.records[first.snapshot.response_id].body["input"]
    assert message["content"] == SENT


async def test_an_image_by_file_id_is_refused_before_anything_is_sent(
    emulator: RunningEmulator, backend: BackgroundBackend
) -> None:
    request = dataclasses.replace(REQUEST, attachments=(Attachment("image", "file-6F2ksmvXxt4VdoqmHRw6kL"),))
    with pytest.raises(RequestRejectedError, match="an agent takes images as URLs or local files"):
        await backend.create(request)
    with pytest.raises(RequestRejectedError, match="an agent takes images as URLs or local files"):
        backend.create_stream(request)
    assert emulator.emulator.jobs == {}
