"""Whose SIGINT handler a batch takes while it runs: Python's default one only, given back after; never a
handler someone else installed (a kernel's, asyncio.Runner's, the CLI's, the user's), nor off the main
thread. Real signals, sent to this process."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from rowrelay.flows.ctrl_c import ctrl_c_cancels


@pytest.fixture
def default_sigint() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _sleeping_task(loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    return loop.create_task(asyncio.sleep(3600))


def test_under_the_default_handler_ctrl_c_cancels_the_task_and_a_second_one_while_it_stops_raises(
    default_sigint: None,
) -> None:
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()

    async def slow_to_stop() -> None:  # as a run cancelling its responses on the server
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stopping.set()
            await asyncio.sleep(3600)

    try:
        task = loop.create_task(slow_to_stop())

        async def interrupted_twice() -> int:
            with ctrl_c_cancels(task) as interrupts:
                os.kill(os.getpid(), signal.SIGINT)
                await stopping.wait()
                with pytest.raises(KeyboardInterrupt):  # the next one is Python's
                    os.kill(os.getpid(), signal.SIGINT)  # its handler runs before this returns
                assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back at once
                task.cancel()
                await asyncio.wait([task])
                return interrupts.count

        assert loop.run_until_complete(interrupted_twice()) == 2
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        loop.close()


def test_a_handler_someone_else_installed_is_kept(default_sigint: None) -> None:
    taken: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: taken.append(signum))
    mine = signal.getsignal(signal.SIGINT)
    loop = asyncio.new_event_loop()
    try:
        task = _sleeping_task(loop)

        async def interrupted() -> None:
            with ctrl_c_cancels(task):
                assert signal.getsignal(signal.SIGINT) is mine
                os.kill(os.getpid(), signal.SIGINT)
                await asyncio.sleep(0)

        loop.run_until_complete(interrupted())
        assert taken == [signal.SIGINT]
        assert not task.done()
        task.cancel()
        loop.run_until_complete(asyncio.wait([task]))
    finally:
        loop.close()
    assert signal.getsignal(signal.SIGINT) is mine


def test_off_the_main_thread_nothing_is_taken(default_sigint: None) -> None:
    seen: list[object] = []

    def in_a_thread() -> None:
        async def run() -> None:
            task = _sleeping_task(asyncio.get_running_loop())
            with ctrl_c_cancels(task):
                seen.append(signal.getsignal(signal.SIGINT))
            task.cancel()

        asyncio.run(run())

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]
