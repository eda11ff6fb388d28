"""With several endpoints, the warning that a server cannot be reached names the endpoint: the other
endpoints' rows go on meanwhile, and a user trial with two endpoints, one down, read "cannot reach the
server (...127.0.0.1:18602...)" with nothing saying which of its entries that was."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from rowrelay.tasks.run import RunCounters, open_session
from tests.support.inspection import eventually, reading
from tests.support.runs import Address, new_table, prompts, settings_for
from tests.support.said import Said


@pytest.mark.parametrize(
    ("endpoint", "said"), [("b", "cannot reach the server of endpoint 'b' ("), (None, None)]
)
async def test_a_server_that_cannot_be_reached_is_named_by_its_endpoint(
    tmp_path: Path, dark_address: str, endpoint: str | None, said: str | None
) -> None:
    counters, table = RunCounters(), new_table(tmp_path / "batch", 2)
    settings = settings_for(Address(f"{dark_address}/v1"), mode="poll", max_attempts=1)
    logger, kept = logging.getLogger("rowrelay.submit"), Said()
    logger.addHandler(kept)
    session = open_session(settings, table, prompts(2), counters=counters, endpoint=endpoint)
    run = asyncio.ensure_future(session.runner.run())
    try:
        await eventually(reading(lambda: counters.transient_errors), lambda errors: errors >= 1)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await session.aclose()
        table.close()
        logger.removeHandler(kept)
    told = [message for message in kept.messages if message.startswith("cannot reach the server")]
    assert len(told) == 1, kept.messages
    assert told[0].startswith(said or "cannot reach the server (connection problem: "), told
