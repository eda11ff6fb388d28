"""An agent's plain (non-async) tool still running when its run stops: the backend's close waits for it,
saying once how many calls and which tool, and its thread keeps no process alive (a second Ctrl-C
leaves it). Against the emulator over a real socket; the tool is released by the test, not by a clock.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import RowRequest, in_background
from rowrelay.tasks.llm.client import make_backend
from tests.support.blocking_tools import TOOL, BlockingTool
from tests.support.runs import settings_for

ROW = "row-0003"
REQUEST = RowRequest(ROW, "Where is order 3?", None, "gpt-4.1-mini", {"rowrelay_row": ROW}, 500)


async def test_a_backend_closed_while_a_sync_tool_runs_waits_for_it_says_so_once_and_leaves_it_a_daemon(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    tool = BlockingTool()
    backend = in_background(make_backend(settings_for(emulator), agent=tool.factory))
    assert backend is not None
    first = await backend.create(REQUEST)
    asked = first.response_id
    assert asked is not None

    async def poll_until_the_tool_runs() -> None:
        while True:  # the first poll that reads the function call runs the tool, in a thread
            await backend.retrieve(asked)

    try:
        polling = asyncio.create_task(poll_until_the_tool_runs())
        await asyncio.to_thread(tool.entered.wait)
        polling.cancel()  # the run stops: the poll lets go of the tool's call at once
        await asyncio.gather(polling, return_exceptions=True)
        assert polling.cancelled()
        threads = [thread for thread in threading.enumerate() if thread.name == f"tool {TOOL}"]
        assert [thread.daemon for thread in threads] == [True], "its own thread, which no exit waits for"

        with caplog.at_level(logging.WARNING, logger="rowrelay.backend"):
            closing = asyncio.create_task(backend.aclose())
            await asyncio.sleep(0)  # the close runs up to its first wait: said before it waits
            assert not closing.done(), "the close waits for the tool's thread"
            tool.release.set()
            await closing
    finally:
        tool.release.set()  # a failed test leaves no thread blocking the session's exit
    assert tool.returned == 1
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1, said
    assert said[0].startswith(f"waiting for 1 tool call still running in threads ({TOOL}): "), said
    assert "a second Ctrl-C leaves them" in said[0]
    # The follow-up was never sent: the row still waits on the response that asked, which the next run
    # polls, runs the tool for again, and counts when the row moves on.
    assert list(emulator.emulator.records) == [asked]
