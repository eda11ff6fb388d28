"""Agent factories that go wrong in how they set their agent up (`--agent module:function`), and one
with a hosted tool: the cases `tests/llm/test_agent_setup.py` and `tests/flows/test_agent_precheck.py`
check are refused, or priced, before or as the rows run."""

from __future__ import annotations

import os
from typing import Any

import openai
from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

OWN_SERVER = "ROWRELAY_TEST_OWN_SERVER"
"""The variable naming the server `on_its_own_client` builds its agent on (nothing listens by default)."""
RAISED = "could not load prompt file"


def raising(client: OpenAIChatClient) -> Agent[Any]:
    raise ValueError(RAISED)


def on_its_own_client(client: OpenAIChatClient) -> Agent[Any]:
    """A factory that ignores the client it is given: its agent creates on a server of its choosing."""
    own = openai.AsyncOpenAI(
        base_url=os.environ.get(OWN_SERVER, "http://127.0.0.1:9/v1"), api_key="x", max_retries=5
    )
    return Agent(client=OpenAIChatClient(model="gpt-4.1-mini", async_client=own), name="own")


def web_searcher(client: OpenAIChatClient) -> Agent[Any]:
    """An agent with a hosted tool of its own (no `--tools`): its searches are billed per call."""
    return Agent(client=client, name="web", instructions="Research.", tools=[client.get_web_search_tool()])
