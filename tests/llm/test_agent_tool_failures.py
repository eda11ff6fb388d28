"""An agent's tool that raises on every row, run against the emulator over a real socket: Agent Framework
logged two lines a failed call (`ERROR ... Function lookup_order failed (ValueError).` and `WARNING ...
raised an exception`), 20,000 for a user trial's 10,000 rows, and never the exception's words. Now the
first failure of each tool is said once, its words masked of the client's key, and the rest counted, said
as the backend closes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm.masking import MASK
from rowrelay.tasks.llm.tool_failures import ToolFailures
from rowrelay.tasks.run import open_session
from tests.support.runs import new_table, prompts, settings_for

KEY = "sk-test-hfix-0123456789abcdefghijklmn"
ROWS = 6


def failing_agent(client: OpenAIChatClient) -> Agent[Any]:
    def lookup_order(order: str) -> str:
        """Look an order up."""
        raise ValueError(f"orders service refused key {KEY} for order {order}")

    return Agent(client=client, name="orders", instructions="Answer from the orders.", tools=[lookup_order])


async def test_a_failing_tool_is_said_once_with_its_words_and_its_failures_counted(
    emulator: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    table = new_table(tmp_path / "batch", ROWS)
    session = open_session(settings_for(emulator, api_key=KEY), table, prompts(ROWS), agent=failing_agent)
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    assert report.counts == {"completed": ROWS}  # the model answered without the tool's output
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [line for line in said if line.startswith("Function ")], said  # AF's lines, none
    (first,) = [line for line in said if "agent tool 'lookup_order' raised" in line]
    assert "ValueError: orders service refused key " in first
    assert KEY[:8] not in first
    assert MASK in first
    (counted,) = [line for line in said if line.startswith("agent tool calls that raised in this run")]
    assert f"lookup_order {ROWS}" in counted, counted
    assert all(KEY[:8] not in line for line in said)
    kept = logging.getLogger("agent_framework").filters
    assert not [each for each in kept if isinstance(each, ToolFailures)], "the filter left with the backend"


def test_a_tools_words_are_masked_of_every_live_backends_keys() -> None:
    """Two backends open in one process, each its filter on AF's one logger: the first filter to see a
    record says it, so it masks the other's key too (it logged it whole, masking only its own)."""
    other_key = "ZZpartner-endpoint-QWERTYUIOPLKJH"  # shares no 8 characters with KEY
    first, second = ToolFailures(lambda: {KEY}), ToolFailures(lambda: {other_key})
    record = logging.LogRecord(
        "agent_framework", logging.WARNING, __file__, 1,
        "Function '%s' raised an exception; returning an error result to the model.", ("lookup",), None,
    )  # fmt: skip
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: said.append(r.getMessage())  # type: ignore[method-assign,assignment]
    logging.getLogger("rowrelay.backend").addHandler(handler)
    try:
        try:
            raise ValueError(f"refused key {other_key} (and {KEY})")
        except ValueError:
            assert first.filter(record) is False
    finally:
        logging.getLogger("rowrelay.backend").removeHandler(handler)
    assert len(said) == 1
    assert other_key not in said[0]
    assert KEY not in said[0]
    assert MASK in said[0]
    assert second.counts == {}  # the record was the first's
