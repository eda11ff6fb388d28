"""`left_already`: whether a create's client has gone, asked without waiting for the next ASGI message."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import Message

from rowrelay.tasks.emulator.delivery import left_already

SCOPE = {"type": "http", "method": "POST", "path": "/v1/responses", "headers": []}


def _request(receive: object) -> Request:
    return Request(SCOPE, receive)  # type: ignore[arg-type]


async def test_a_client_whose_disconnect_is_waiting_has_left() -> None:
    async def receive() -> Message:
        return {"type": "http.disconnect"}

    assert left_already(_request(receive))


async def test_a_client_with_nothing_to_say_is_still_there_and_leaves_no_waiter_behind() -> None:
    # uvicorn's receive, once the body is read, waits on an event the connection sets when it is lost.
    news = asyncio.Event()
    woke: list[Message] = []

    async def receive() -> Message:
        await news.wait()
        message: Message = {"type": "http.disconnect"}
        woke.append(message)
        return message

    assert not left_already(_request(receive))
    assert not news._waiters, "the abandoned wait took its future off the event"
    news.set()
    await asyncio.sleep(0)
    assert woke == [], "the abandoned receive does not run on when the event is set"


async def test_a_client_still_sending_its_body_has_not_left() -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": True}

    assert not left_already(_request(receive))
