"""Agent factories for the Agent Framework tests and the `--agent module:function` option."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agent_framework import Agent, AgentContext, agent_middleware
from agent_framework.openai import OpenAIChatClient

INSTRUCTIONS = "Summarise the ticket in one line."
NOT_A_FUNCTION = 3


def make_agent(client: OpenAIChatClient) -> Agent[Any]:
    """A user's agent: its own name and instructions, on the client rowrelay configured."""
    return Agent(client=client, name="summariser", instructions=INSTRUCTIONS)


def not_an_agent(client: OpenAIChatClient) -> object:
    return client


CRASH = "the agent's own middleware broke"


@agent_middleware
async def _broken(context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
    raise RuntimeError(CRASH)


def crashing_agent(client: OpenAIChatClient) -> Agent[Any]:
    """A user's agent whose every run raises something rowrelay does not expect: each row "crashes",
    the path on which the runner logs the exception with its traceback (`log.exception`)."""
    return Agent(client=client, name="crashing", middleware=[_broken])


ANSWER = "was shipped on Monday"


class CountingTool:
    """An agent factory whose agent has one tool; `calls` counts the tool's runs across agents."""

    def __init__(self) -> None:
        self.calls = 0

    def factory(self, client: OpenAIChatClient) -> Agent[Any]:
        def lookup_ticket(ticket: str) -> str:
            """Look a ticket up in the tracker."""
            self.calls += 1
            return f"ticket {ticket} {ANSWER}"

        return Agent(
            client=client, name="tracker", instructions="Answer from the tracker.", tools=[lookup_ticket]
        )
