"""An agent factory that counts its calls: in the test's own process (`CountedFactory`), or, for the
`rowrelay` command in a process of its own, as lines appended to the file `CALLS_FILE` names
(`--agent tests.support.counted_factory:make_agent`). Its agent has a sub-agent for a tool, of another
model, built on the SDK client the factory was given (`chat.client`), as a factory building several
agents commonly does: it reaches the run's server only if the factory was called for the run's client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

CALLS_FILE = "ROWRELAY_TEST_FACTORY_CALLS"
"""The environment variable naming the file `make_agent` appends a line to on each call."""
HELPER_MODEL = "gpt-4o-mini"
HELPER_INSTRUCTIONS = "Say where the order is."


def _agent(chat: OpenAIChatClient) -> Agent[Any]:
    helper_chat = OpenAIChatClient(model=HELPER_MODEL, async_client=chat.client)
    helper = Agent(client=helper_chat, name="helper", instructions=HELPER_INSTRUCTIONS)
    return Agent(
        client=chat,
        name="counted",
        instructions="Answer from the helper.",
        tools=[helper.as_tool(name="ask_helper", description="Ask the helper about an order.")],
    )


class CountedFactory:
    """`factory` builds the agent above; `calls` counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def factory(self, client: OpenAIChatClient) -> Agent[Any]:
        self.calls += 1
        return _agent(client)


def make_agent(client: OpenAIChatClient) -> Agent[Any]:
    with Path(os.environ[CALLS_FILE]).open("a") as calls:
        calls.write(f"{os.getpid()}\n")
    return _agent(client)
