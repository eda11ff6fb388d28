"""Agent factories for the Agent Framework tests and the `--agent module:function` option."""

from __future__ import annotations

from typing import Any

from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

INSTRUCTIONS = "Summarise the ticket in one line."
NOT_A_FUNCTION = 3


def make_agent(client: OpenAIChatClient) -> Agent[Any]:
    """A user's agent: its own name and instructions, on the client rowrelay configured."""
    return Agent(client=client, name="summariser", instructions=INSTRUCTIONS)


def not_an_agent(client: OpenAIChatClient) -> object:
    return client
