"""The allowance of local files' bytes held at once: a row waits while another's would not leave room, a
file larger than the whole allowance goes alone, and a release wakes the waiters."""

from __future__ import annotations

import asyncio

from rowrelay.tasks.run.inline_bytes import InlineBytes


async def test_a_row_waits_until_its_files_fit_and_a_file_over_the_allowance_goes_alone() -> None:
    inline = InlineBytes(100)
    first = await inline.acquire(60)
    second = asyncio.ensure_future(inline.acquire(50))
    oversized = asyncio.ensure_future(inline.acquire(500))
    await asyncio.sleep(0)
    assert not second.done()
    assert not oversized.done()
    inline.release(first)
    await asyncio.sleep(0)
    assert second.done() and second.result() == 50  # noqa: PT018
    assert not oversized.done()  # all of the allowance, so it waits for the last bytes held
    inline.release(50)
    assert await oversized == 100
    assert inline.held == 100
    inline.release(100)
    assert inline.held == 0
