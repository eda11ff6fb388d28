"""What the Responses backend tells the rate budget of the server's answers: the headers of every create's
answer, a refusal's too (`on_headers`), and each call the server took (`on_taken`), which ends a streak of
429s that named no wait (`RateBudget.on_rate_limited`)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.errors import RateLimitedError
from rowrelay.tasks.llm.calls import RowRequest
from rowrelay.tasks.llm.responses_backend import Transport
from tests.support.raw_http import backend_on

REQUEST = RowRequest(
    row_key="row-1", prompt="hi", instructions=None, model="gpt-4.1-mini", metadata={"rowrelay_row": "row-1"}
)


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_each_call_the_server_takes_is_told_and_no_429_is(transport: Transport) -> None:
    taken: list[bool] = []
    headers: list[Mapping[str, str]] = []
    # One create and one poll a minute: the second of each is a 429.
    with running_emulator(EmulatorConfig(rpm=1, poll_rpm=1)) as emu:
        async with backend_on(
            emu.url, transport, on_headers=headers.append, on_taken=taken.append
        ) as backend:
            snapshot = await backend.create(REQUEST)
            assert snapshot.response_id is not None
            assert taken == [False]  # a create
            await backend.retrieve(snapshot.response_id)
            assert taken == [False, True]  # a poll
            with pytest.raises(RateLimitedError):
                await backend.create(REQUEST)
            with pytest.raises(RateLimitedError):
                await backend.retrieve(snapshot.response_id)
    assert taken == [False, True]
    assert [h["x-ratelimit-remaining-requests"] for h in headers] == ["0", "0"]  # the 429's headers too
