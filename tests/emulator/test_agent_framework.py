"""Microsoft Agent Framework against the emulator: the two loops of AF's background-
responses sample (poll with a continuation token; stream and resume from the last token).

agent-framework-core 1.23.0 / agent-framework-openai 1.17.0 import without warnings, so no filter is
needed under `filterwarnings = error`. AF builds its own AsyncOpenAI; it is closed after each test, or
its sockets would surface as ResourceWarnings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient, OpenAIChatOptions

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator


@contextlib.asynccontextmanager
async def agent_on_emulator() -> AsyncIterator[tuple[Agent, RunningEmulator]]:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"))) as emu:
        client = OpenAIChatClient(model="o3", api_key="x", base_url=emu.url)
        try:
            yield Agent(name="researcher", instructions="Be concise.", client=client), emu
        finally:
            await client.client.close()


def held_text(emu: RunningEmulator, response_id: str) -> str:
    """What the emulator holds as the answer of this response."""
    return emu.emulator.records[response_id].plan.text


async def test_background_poll_loop() -> None:
    async with agent_on_emulator() as (agent, emu):
        session = agent.create_session()
        response = await agent.run(
            "Explain relativity in two sentences.",
            session=session,
            options=OpenAIChatOptions(background=True),
        )
        assert response.continuation_token is not None
        first_token: Mapping[str, object] = response.continuation_token
        response_id = first_token["response_id"]
        assert isinstance(response_id, str)
        polls = 0
        while response.continuation_token is not None:
            token: Any = json.loads(json.dumps(response.continuation_token))
            polls += 1
            await asyncio.sleep(0.05)
            response = await agent.run(session=session, options=OpenAIChatOptions(continuation_token=token))
        assert polls >= 1
        assert response.text
        assert response.text == held_text(emu, response_id)
        follow_up = await agent.run("And in one sentence?", session=session)
        assert follow_up.text, "the second turn sends previous_response_id, which must resolve"


async def test_stream_then_resume_loop() -> None:
    async with agent_on_emulator() as (agent, emu):
        session = agent.create_session()
        last_token: Any = None
        seen = 0
        stream = agent.run(
            "List three benefits of exercise.",
            stream=True,
            session=session,
            options=OpenAIChatOptions(background=True),
        )
        async for update in stream:
            last_token = update.continuation_token or last_token
            seen += 1
            if seen >= 3:
                break
        await stream.close()
        assert last_token is not None
        resumed = agent.run(
            stream=True, session=session, options=OpenAIChatOptions(continuation_token=last_token)
        )
        async for _ in resumed:
            pass
        final = await resumed.get_final_response()
        assert final.continuation_token is None
        assert final.text == held_text(emu, last_token["response_id"])
