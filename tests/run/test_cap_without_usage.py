"""A capped run on a server that answers without token usage (vLLM, Ollama, many gateways) says what it
counted against the cap as estimates, not as spent.

Such answers count against --max-cost at their estimates (prompt tokens and the output ceiling), as the
README says. A trial's capped run on an OpenAI-compatible server without usage closed with `cost:
unknown` and, one line below, `cost cap reached: spent $0.04934 of --max-cost $0.05`: every cent of it
was an estimate, none known spent."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.cap_words import LeftToSend, LostCreates, stop_message
from rowrelay.tasks.state import load
from tests.support.rewriting_proxy import rewriting
from tests.support.runs import Address, new_table, prompts, settings_for

ROWS = 12
OUTPUT = 100


def _no_usage(response: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    return {**response, "usage": None}


async def test_a_capped_run_without_usage_says_its_count_is_estimates(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        async with rewriting(emu.url, _no_usage) as url:
            settings = settings_for(
                Address(url), poll_streams=0, max_output_tokens=OUTPUT, max_in_flight=2, max_cost=0.001
            )
            table = new_table(tmp_path / "batch", ROWS)
            session = open_session(settings, table, prompts(ROWS))
            try:
                await session.runner.run()
                spend = session.driver.context.spend
            finally:
                await session.aclose()
                table.close()
    frame = load(tmp_path / "batch")
    answered = int((frame["status"] == "completed").sum())
    assert 0 < answered < ROWS, "the cap stopped the run part way"
    assert frame["cost_usd"].isna().all()  # no usage, no cost
    line = spend.stop_message(LeftToSend(ROWS - answered, 0))
    assert line is not None
    assert "spent $" not in line, line
    assert line.startswith("cost cap reached: $"), line
    assert f"counted at their estimates for {answered} answers given without token usage" in line, line
    assert "(what they cost is not known) of --max-cost $0.001;" in line, line


def test_answers_with_and_without_usage_and_lost_creates_are_said_apart() -> None:
    left = LeftToSend(5, 0)
    plain = stop_message(0.009, LostCreates(), 0.01, left)
    assert plain.startswith("cost cap reached: spent $0.009 of --max-cost $0.01; 5 rows not sent;")
    unmetered, lost = LostCreates(), LostCreates()
    unmetered.add(0.003, 3)
    lost.add(0.002, 2)
    both = stop_message(0.009, lost, 0.01, left, unmetered=unmetered)
    assert both.startswith(
        "cost cap reached: spent $0.004, and $0.003 counted at their estimates for 3 answers given without "
        "token usage, and up to $0.002 more in 2 creates whose answers were lost (possible duplicates), of "
        "--max-cost $0.01; 5 rows not sent;"
    ), both
    assert both.endswith("(the batch counts $0.009 against it)"), both
