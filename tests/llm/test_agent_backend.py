"""Rows run by Microsoft Agent Framework agents, against the emulator over a real socket.

The agent is built by a user's factory (tests/llm/agent_factories.py) on the client rowrelay configures;
tokens cross both ways between the state table and AF. AF's own clients built here are closed, or their
sockets surface as ResourceWarnings under `filterwarnings = error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient, OpenAIChatOptions

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm import RowRequest, in_background
from rowrelay.tasks.llm.agent_backend import AgentBackend, load_agent_factory
from rowrelay.tasks.llm.client import make_backend
from rowrelay.tasks.run import RunReport, open_session
from rowrelay.tasks.run.tokens import adopt_token, continuation_token_for
from rowrelay.tasks.state import StateTable, load
from tests.llm.agent_factories import INSTRUCTIONS, make_agent
from tests.support.runs import creates_per_row, new_table, prompts, settings_for


async def run_with_agent(
    emu: RunningEmulator, directory: Path, rows: int, table: StateTable | None = None, **overrides: Any
) -> RunReport:
    table = table or new_table(directory, rows)
    session = open_session(settings_for(emu, **overrides), table, prompts(rows), agent=make_agent)
    try:
        return await session.runner.run()
    finally:
        await session.aclose()
        table.close()


async def server_texts(emu: RunningEmulator, response_ids: Any) -> list[str]:
    client = openai.AsyncOpenAI(base_url=emu.url, api_key="x")
    try:
        return [(await client.responses.retrieve(rid)).output_text for rid in response_ids]
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def own_agent(emu: RunningEmulator) -> AsyncIterator[Agent[Any]]:
    """An agent built elsewhere (not by rowrelay), on its own client."""
    client = OpenAIChatClient(model="gpt-4.1-mini", api_key="x", base_url=emu.url)
    try:
        yield make_agent(client)
    finally:
        await client.client.close()


async def test_poll_mode_batch_through_an_agent(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.3"), seed=4)) as emu:
        report = await run_with_agent(emu, tmp_path / "batch", rows=20)
        frame = load(tmp_path / "batch")
        bodies = [record.body for record in emu.emulator.records.values()]
        assert report.counts == {"completed": 20}
        assert set(creates_per_row(emu).values()) == {1}
        assert list(frame["output_text"]) == await server_texts(emu, frame["response_id"])
    assert all(body["background"] is True for body in bodies)
    assert all(body["metadata"]["rowrelay_batch"] == "test-batch" for body in bodies)
    assert all(body["instructions"] == INSTRUCTIONS for body in bodies)
    assert not any(body.get("previous_response_id") for body in bodies), "rows must not chain"
    assert (frame["output_tokens"] > 0).all()


async def test_stream_mode_with_dropped_streams_records_the_text_once(tmp_path: Path) -> None:
    # Every connection is cut after 4 events, and AF replays a resumed stream from sequence 0.
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"), drop_stream_after=4)
    with running_emulator(config) as emu:
        report = await run_with_agent(emu, tmp_path / "batch", rows=10, mode="stream")
        frame = load(tmp_path / "batch")
        texts = await server_texts(emu, frame["response_id"])
        assert report.counts == {"completed": 10}
        assert set(creates_per_row(emu).values()) == {1}
    assert report.counters.resumes >= 10
    assert report.counters.polls >= 10  # each replay was cut before passing the cursor: polled instead
    assert list(frame["output_text"]) == texts


async def test_a_resumed_stream_skips_what_the_cursor_already_saw(emulator: RunningEmulator) -> None:
    backend = in_background(make_backend(settings_for(emulator), agent=make_agent))
    assert backend is not None
    request = RowRequest("row-0", "Summarise ticket 0.", None, "gpt-4.1-mini", {"rowrelay_row": "row-0"})
    try:
        first = backend.create_stream(request)
        seen = [await anext(first) for _ in range(3)]
        await first.aclose()
        response_id = seen[0].snapshot.response_id if seen[0].snapshot else None
        assert response_id is not None
        resumed = [update async for update in backend.resume(response_id, seen[-1].sequence_number)]
    finally:
        await backend.aclose()
    numbers = [u.sequence_number for u in seen + resumed]
    assert numbers == list(range(len(numbers)))  # no event twice, none missing
    final = resumed[-1].snapshot
    assert final is not None
    assert final.status == "completed"
    assert [final.output_text] == await server_texts(emulator, [response_id])


async def test_failed_responses_become_row_errors(tmp_path: Path) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), fail_rate=0.5, seed=11)
    with running_emulator(config) as emu:
        report = await run_with_agent(emu, tmp_path / "batch", rows=20, max_attempts=1)
    frame = load(tmp_path / "batch")
    failed = frame[frame["status"] == "failed"]
    assert set(report.counts) == {"completed", "failed"}
    assert (failed["error_code"] == "server_error").all()


async def test_cancel_goes_through_the_agents_own_client() -> None:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:5"))) as emu:
        backend = in_background(make_backend(settings_for(emu), agent=make_agent))
        assert backend is not None
        request = RowRequest("row-0", "Summarise.", None, "gpt-4.1-mini", {})
        try:
            started = await backend.create(request)
            assert started.response_id is not None
            cancelled = await backend.cancel(started.response_id)
        finally:
            await backend.aclose()
    assert started.status in ("queued", "in_progress")
    assert cancelled.status == "cancelled"


async def test_backend_agent_with_no_factory_runs_a_plain_agent(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    table = new_table(tmp_path / "batch", 3)
    settings = settings_for(emulator, backend="agent", api_key="x")
    session = open_session(settings, table, prompts(3), instructions="Answer briefly.")
    try:
        assert isinstance(session.backend, AgentBackend)
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    assert report.counts == {"completed": 3}
    assert {r.body.get("instructions") for r in emulator.emulator.records.values()} == {"Answer briefly."}


async def test_an_agent_resumes_a_row_the_responses_backend_submitted(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:1.5"))) as emu:
        table = new_table(tmp_path / "batch", 1)
        session = open_session(settings_for(emu), table, prompts(1))  # the plain Responses backend
        run = asyncio.create_task(session.runner.run())
        for _ in range(100):  # until the token is on disk
            if load(tmp_path / "batch")["response_id"].notna().all():
                break
            await asyncio.sleep(0.05)
        stored = load(tmp_path / "batch").iloc[0]
        token: Any = json.loads(json.dumps(continuation_token_for(stored["response_id"])))
        async with own_agent(emu) as agent:
            answer = await agent.run(options=OpenAIChatOptions(continuation_token=token))
            while answer.continuation_token is not None:
                await asyncio.sleep(0.1)
                answer = await agent.run(options=OpenAIChatOptions(continuation_token=token))
        await run
        await session.aclose()
        table.close()
    assert stored["status"] in ("queued", "in_progress")
    assert answer.text == load(tmp_path / "batch").iloc[0]["output_text"]


async def test_the_runner_finishes_a_row_from_an_af_token_without_a_new_create(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.5"))) as emu:
        async with own_agent(emu) as agent:
            started = await agent.run(prompts(5)["row-0002"], options=OpenAIChatOptions(background=True))
        token = json.loads(json.dumps(started.continuation_token))
        table = new_table(tmp_path / "batch", 5)
        adopt_token(table, "row-0002", token)
        table.close()
        adopted = load(tmp_path / "batch").set_index("row_key").loc["row-0002"]  # durable
        reopened = StateTable.open(tmp_path / "batch", checkpoint_interval=0.05)
        report = await run_with_agent(emu, tmp_path / "batch", rows=5, table=reopened)
        frame = load(tmp_path / "batch").set_index("row_key")
        texts = await server_texts(emu, [token["response_id"]])
        held = len(emu.emulator.records)
    assert adopted["status"] == "queued"
    assert report.counts == {"completed": 5}
    assert report.counters.creates == 4
    assert held == 5
    assert frame.loc["row-0002", "response_id"] == token["response_id"]
    assert frame.loc["row-0002", "output_text"] == texts[0]


def test_adopting_refuses_a_token_that_is_not_one(tmp_path: Path) -> None:
    with new_table(tmp_path / "batch", 1) as table, pytest.raises(UsageError, match="not an Agent"):
        adopt_token(table, "row-0000", {"responseId": "resp_x"})


def test_a_row_with_no_response_id_has_no_token(tmp_path: Path) -> None:
    with new_table(tmp_path / "batch", 1) as table, pytest.raises(UsageError, match="no response id"):
        continuation_token_for(table.get("row-0000"))


def test_load_agent_factory_finds_the_function() -> None:
    assert load_agent_factory("tests.llm.agent_factories:make_agent") is make_agent


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("tests.llm.agent_factories", "expected module:function"),
        (":make_agent", "expected module:function"),
        ("tests.llm.agent_factories:", "expected module:function"),
        ("tests.llm.no_such_module:make_agent", "cannot import"),
        ("tests.llm.agent_factories:missing", "has no 'missing'"),
        ("tests.llm.agent_factories:NOT_A_FUNCTION", "must be a function"),
    ],
)
def test_load_agent_factory_explains_a_bad_spec(spec: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        load_agent_factory(spec)


async def test_a_factory_that_returns_no_agent_is_refused(emulator: RunningEmulator) -> None:
    factory = load_agent_factory("tests.llm.agent_factories:not_an_agent")
    with pytest.raises(UsageError, match=r"not an agent_framework\.Agent"):
        make_backend(settings_for(emulator), agent=factory)
