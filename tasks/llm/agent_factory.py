"""An `--agent module:function` factory: found, called and checked before it runs a row.

    factory = load_agent_factory("mypkg.agents:make_agent")
    agent = build_agent(factory, creates, model="gpt-4.1-mini")   # UsageError: one line naming the factory

rowrelay polls, resumes, cancels and records every row on the run's server (its base URL is what
`run.json` keeps, what `rowrelay cancel` reaches, what a resume checks with `same_server`), so the agent
must run on the client rowrelay hands its factory. An agent built on a client of its own would create its
responses on another server: a cancel would find none of them there and a resume would send every row
again, each paid twice. Such an agent is refused, as is a factory that raises or returns no agent;
`check_factory` does it before anything starts, and a factory called from Python, or on a Dask worker,
is checked as the run builds its agent.

The run calls the factory for its own client, after the check called it on a client that sends
nothing: a factory builds on that client whatever it likes (a helper agent on
`OpenAIChatClient(model=..., async_client=chat.client)`, a tool holding `chat.client`), and only the
factory's own call on the run's client builds all of it on the run's server. Handing the run the check's
agent, its one `OpenAIChatClient` re-pointed, left those on the check's placeholder address: every helper
call failed, the model was given the tool's error, and the row completed on a paid, wrong answer. A slow
factory is called twice per run for it (once per process that runs rows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import openai
from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.user_code import import_user_module
from rowrelay.tasks.records import SAID_CAP, one_line
from rowrelay.tasks.setting_problems import given_as, one_of, option_of

__all__ = [
    "AgentFactory",
    "AnyAgent",
    "build_agent",
    "check_factory",
    "factory_name",
    "hosted_tools",
    "load_agent_factory",
]

AnyAgent: TypeAlias = Agent[Any]
AgentFactory: TypeAlias = Callable[[OpenAIChatClient], AnyAgent]
_NOWHERE = "http://127.0.0.1:9/v1"
"""The base URL of the client `check_factory` hands a factory when the run's is not known yet (the
embedded emulator starts later): the client sends nothing, so its address is never used."""


def load_agent_factory(spec: str) -> AgentFactory:
    """Import `package.module:function`, a function that takes an `OpenAIChatClient` and returns an Agent."""
    if not isinstance(spec, str):  # a function or an Agent from Python: `BatchRequest.build` says which name
        raise UsageError(
            f"{option_of('agent')}: expected module:function, a string (got {type(spec).__name__})"
        )
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute.isidentifier():
        raise UsageError(
            f"{given_as('agent', repr(spec))}: expected module:function, e.g. mypackage.agents:make_agent"
        )
    try:
        module = import_user_module(module_name)
    except ImportError as exc:
        raise UsageError(f"{given_as('agent', repr(spec))}: cannot import {module_name!r}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if factory is None:
        raise UsageError(f"{given_as('agent', repr(spec))}: module {module_name!r} has no {attribute!r}")
    if not callable(factory) or isinstance(factory, Agent):
        raise UsageError(
            f"{given_as('agent', repr(spec))}: {attribute!r} must be a function (client) -> Agent"
        )
    return factory  # type: ignore[no-any-return]


def factory_name(factory: Callable[..., Any]) -> str:
    """`module:function`, as `--agent` names it."""
    module = getattr(factory, "__module__", None) or "?"
    return f"{module}:{getattr(factory, '__qualname__', type(factory).__name__)}"


def build_agent(factory: AgentFactory, client: openai.AsyncOpenAI, model: str | None) -> AnyAgent:
    """The factory's agent on `client` (wrapped in an `OpenAIChatClient` of `model`); a `UsageError` in
    one line, naming the factory, when it raises, returns no agent, or builds its agent on a client of
    its own (the module docstring says why)."""
    said = one_of("agent", (factory_name(factory),))  # `--agent m:f`, from Python `agent='m:f'`
    try:
        agent = factory(OpenAIChatClient(model=model, async_client=client))
    except Exception as exc:  # the user's code: anything it raises is its problem, said in one line
        words = one_line(str(exc), SAID_CAP) or "(no message)"
        raise UsageError(f"{said}: the factory raised {type(exc).__name__}: {words}") from exc
    if not isinstance(agent, Agent):
        raise UsageError(f"{said}: the factory returned {type(agent).__name__}, not an agent_framework.Agent")
    chat = agent.client
    if not isinstance(chat, OpenAIChatClient):
        raise UsageError(
            f"{said}: rowrelay runs agents on OpenAIChatClient (Responses API), not {type(chat).__name__}"
        )
    if chat.client is not client:
        raise UsageError(
            f"{said}: the agent runs on a client of its own ({_address(chat.client)}), not the one "
            "rowrelay gives the factory; rowrelay polls, cancels and resumes rows on the run's server, "
            "where that agent's responses are not: build it with Agent(client=client, ...) and point "
            f"rowrelay at your server with {option_of('base_url')}"
        )
    return agent


def check_factory(factory: AgentFactory, model: str, base_url: str | None) -> AnyAgent:
    """`build_agent` on a client that is never used: what the run's call would refuse, refused before
    anything is sent. Its agent is for looking at (`hosted_tools`), never run: whatever the factory
    built on this client besides it would send to the placeholder address, so the run calls the factory
    again for its own client (the module docstring says why)."""
    client = openai.AsyncOpenAI(api_key="unused", base_url=base_url or _NOWHERE, max_retries=0)
    return build_agent(factory, client, model)


def hosted_tools(agent: AnyAgent) -> tuple[dict[str, Any], ...]:
    """The server-side tools the agent offers its model (`client.get_web_search_tool()`, ...), as the
    Responses API's tool objects: billed per call beside the tokens, as `--tools` is. Its function
    tools (Python callables AF wraps) run here and cost only their rounds' tokens."""
    tools = agent.default_options.get("tools") or ()
    return tuple(dict(tool) for tool in tools if isinstance(tool, Mapping))


def _address(client: object) -> str:
    url = getattr(client, "base_url", None)
    return str(url).rstrip("/") if url is not None else type(client).__name__
