"""The run's loop under Ctrl-C (flows/run_loop.py), in this process with real SIGINTs, each sent at the
moment it stands for: the first cancels the run, the second its cancelling, and a third, as the run
winds up, is said once and lets it end. Under `uvloop.run` (asyncio's runner), the second raised
`KeyboardInterrupt` inside the run's own code and the third tore the loop's close."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from rowrelay.flows.run_loop import ALREADY_STOPPING, run_loop


@pytest.fixture
def default_sigint() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # its handler runs before this returns


def test_ctrl_c_three_times_cancels_the_run_then_its_cancelling_then_lets_it_wind_up(
    default_sigint: None, capfd: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    async def a_run() -> None:  # as `Runner.run` stops: cancel in flight (shielded), then its last write
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen.append("cancelling")
            cancelling = asyncio.ensure_future(asyncio.sleep(3600))
            try:
                _ctrl_c()  # the second, as it cancels
                await asyncio.shield(cancelling)
            except asyncio.CancelledError:
                seen.append("cancelling stopped")
                cancelling.cancel()
                _ctrl_c()  # the third, as it winds up
                await asyncio.sleep(0.01)  # the state table's last write
                seen.append("wound up")
                raise

    async def started() -> None:
        asyncio.get_running_loop().call_soon(_ctrl_c)  # the first, once the run waits
        await a_run()

    with pytest.raises(KeyboardInterrupt):
        run_loop(started())
    assert seen == ["cancelling", "cancelling stopped", "wound up"]
    assert capfd.readouterr().err == f"{ALREADY_STOPPING}\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_run_that_ends_returns_its_result_and_gives_the_handler_back(default_sigint: None) -> None:
    async def a_run() -> int:
        return 7

    assert run_loop(a_run()) == 7
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
