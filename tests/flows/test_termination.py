"""A SIGTERM whose exception lands in a plain event-loop callback, where asyncio swallows it, still stops
the run (flows/termination.py). A real signal, sent to this process from inside a callback, so that its
handler raises there, as Prefect's does wherever the main thread is."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterator

import pytest

from rowrelay.flows.termination import SwallowedStop, terminated_as_raised


class Stop(BaseException):
    """What Prefect's `TerminationSignal` is: a BaseException carrying the signal."""

    def __init__(self, signal: int) -> None:
        super().__init__(f"signal {signal}")
        self.signal = signal


@pytest.fixture
def raising_on_sigterm() -> Iterator[None]:
    with terminated_as_raised(Stop):
        yield


async def _turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_sigterm_raised_inside_a_callback_cancels_the_guarded_run(raising_on_sigterm: None) -> None:
    stop = SwallowedStop(Stop)
    stop.guard()
    asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)
    with pytest.raises(asyncio.CancelledError):
        await _turns(20)  # the callback runs in the next turn; without the guard the run goes on
    task = asyncio.current_task()
    assert task is not None
    task.uncancel()
    assert stop.signum == signal.SIGTERM


async def test_other_errors_in_callbacks_are_left_to_the_loops_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = SwallowedStop(Stop)
    stop.guard()

    def broken() -> None:
        raise ValueError("a callback's own bug")

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.get_running_loop().call_soon(broken)
        await _turns(20)  # not cancelled
    assert stop.signum is None
    assert any("a callback's own bug" in str(record.exc_info) for record in caplog.records)
