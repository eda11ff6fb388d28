"""How an Agent Framework agent is set up, priced and handed back: a factory's agent must run on the
client rowrelay gives it, a factory that raises is named in one line, an agent's own hosted tools are
billed (and capped) as `--tools` are, and an agent the caller hands over is left as it was. Against the
real emulator over a real socket, through the official SDK and Agent Framework."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from agent_framework.openai import OpenAIChatClient

from rowrelay.flows.precheck import columns_asked
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.prices import cost_usd, load_prices
from rowrelay.tasks.run import RunReport, open_session
from rowrelay.tasks.state import StateTable, load, results_frame
from tests.llm.agent_factories import make_agent
from tests.llm.setup_factories import OWN_SERVER, RAISED, on_its_own_client, raising, web_searcher
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import Served, new_table, prompts, settings_for

WEB_SEARCH_FEE = 0.01
"""USD per `web_search` call (rowrelay's price table)."""


async def run_on(emu: Served, table: StateTable, agent: Any, **overrides: Any) -> RunReport:
    """A run of `table`'s rows by `agent` to its end; the session is closed, the table left open."""
    rows = len(table)
    session = open_session(settings_for(emu, **overrides), table, prompts(rows), agent=agent)
    try:
        return await session.runner.run()
    finally:
        await session.aclose()


async def run_agent(
    emu: RunningEmulator, directory: Path, rows: int, agent: Any, **overrides: Any
) -> RunReport:
    with new_table(directory, rows) as table:
        return await run_on(emu, table, agent, **overrides)


async def test_a_factory_agent_on_a_client_of_its_own_is_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its responses would be made on its own server, where rowrelay's polls, cancels and resumes never
    look: after a crash, `rowrelay cancel` marked every row expired there while the jobs ran on, and the
    resume created each row again, paid twice. Refused, nothing is created on either server."""
    with running_emulator(EmulatorConfig()) as its_own, running_emulator(EmulatorConfig()) as runs_on:
        monkeypatch.setenv(OWN_SERVER, its_own.url)
        table = new_table(tmp_path / "batch", 6)
        try:
            with pytest.raises(UsageError, match="client of its own") as refused:
                await run_on(runs_on, table, on_its_own_client)  # the old code ran every row elsewhere
        finally:
            table.close()
        made_there, unanswered_there = jobs_of(its_own.url)
        made_here, unanswered_here = jobs_of(runs_on.url)
    said = str(refused.value)
    assert "\n" not in said
    # open_session from Python: the parameter as given, not `rowrelay run`'s `--agent`
    assert said.startswith("agent='tests.llm.setup_factories:on_its_own_client': ")
    assert its_own.url.rstrip("/") in said
    assert said.endswith("point rowrelay at your server with base_url")
    frame = load(tmp_path / "batch")
    assert made_there.total() == made_here.total() == 0
    assert_every_job_is_paid_for(frame, made_there + made_here, unanswered_there + unanswered_here)
    assert set(frame["status"]) == {"pending"}


async def test_a_factory_that_raises_is_named_in_one_line(emulator: RunningEmulator, tmp_path: Path) -> None:
    table = new_table(tmp_path / "batch", 2)
    try:
        with pytest.raises(UsageError) as refused:
            open_session(settings_for(emulator), table, prompts(2), agent=raising)
    finally:
        table.close()
    assert str(refused.value) == (
        f"agent='tests.llm.setup_factories:raising': the factory raised ValueError: {RAISED}"
    )
    assert emulator.emulator.listing() == []


async def test_an_agents_own_web_search_is_billed_per_call_and_its_columns_exported(
    tmp_path: Path,
) -> None:
    """A factory adding `client.get_web_search_tool()` (no `--tools`): each row's cost is its tokens and
    its searches, as with `--tools web_search`; the old code priced the tokens alone ($0.001 for
    $0.11), and the output left out the rows' tool calls and citations the state held."""
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), seed=5)
    with running_emulator(config) as emu:
        report = await run_agent(emu, tmp_path / "batch", 6, web_searcher)
        async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
            responses = {
                str(rid): await client.responses.retrieve(str(rid))
                for rid in load(tmp_path / "batch")["response_id"]
            }
    assert report.counts == {"completed": 6}
    frame = load(tmp_path / "batch")
    rates = load_prices(None).rates("openai", "gpt-4.1-mini", "default")
    assert rates is not None
    for row in frame.itertuples():
        response = responses[str(row.response_id)]
        assert response.usage is not None
        made = sum(item.type == "web_search_call" for item in response.output)
        assert made > 0
        assert made == row.tool_calls
        tokens = cost_usd(
            rates,
            input_tokens=response.usage.input_tokens,
            cached_tokens=response.usage.input_tokens_details.cached_tokens,
            output_tokens=response.usage.output_tokens,
        )
        assert row.cost_usd == pytest.approx(tokens + made * WEB_SEARCH_FEE, abs=1e-9)
    results = results_frame(frame, list(frame["row_key"]), columns_asked(settings_for(emu)))
    assert list(results["tool_calls"]) == list(frame["tool_calls"])
    assert all(len(cited) > 0 for cited in results["citations"])


async def test_max_cost_counts_an_agents_own_web_searches(tmp_path: Path) -> None:
    """The cap's estimate of a row counts the searches the agent may make, as `--tools` does (one of
    the dearest before any answer, then the mean with a margin): without them a row was estimated at
    its tokens (~$0.0002) and all 20 rows were sent, each spending some $0.02 ($0.45 in all)."""
    cap, in_flight = 0.05, 2
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), seed=5)) as emu:
        await run_agent(emu, tmp_path / "batch", 20, web_searcher, max_cost=cap, max_in_flight=in_flight)
        made, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "batch")
    assert_every_job_is_paid_for(frame, made, unanswered)
    assert (frame["status"] == "pending").sum() > 0, "the cap left rows unsent"
    searches_at_most = 3  # the emulator's searches per answer (tests/support/web_search.py SEARCHES)
    one_row = searches_at_most * WEB_SEARCH_FEE + 0.001
    # Within what the rows in flight when the cap was met may spend over their estimates.
    assert frame["cost_usd"].sum() <= cap + in_flight * one_row


async def test_an_agent_handed_over_keeps_its_own_client_as_it_was(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """rowrelay runs it on a copy with no transport retries: the caller's client keeps its retries (the
    old code set `max_retries=0` on it, in place)."""
    chat = OpenAIChatClient(model="gpt-4.1-mini", api_key="x", base_url=emulator.url)  # 2 retries
    sdk = chat.client
    agent = make_agent(chat)
    try:
        report = await run_agent(emulator, tmp_path / "batch", 3, agent)
    finally:
        await sdk.close()
    assert report.counts == {"completed": 3}
    assert agent.client is chat
    assert chat.client is sdk
    assert sdk.max_retries == 2
