"""An agent a Python caller hands rowrelay itself (`run_batch(agent=...)`), rather than a factory that
rowrelay builds one with: it runs on its own `OpenAIChatClient`, which must send every request once.

Its tool rounds create responses inside polls, and the SDK retries a create that timed out without an
Idempotency-Key, which can start a second paid job; rowrelay retries failed calls itself. So an agent
whose client retries runs on a copy of itself and of its client with the retries turned off, said in a
warning, and one on a client rowrelay cannot turn them off in is refused (`AgentBackend`, as it is built).
"""

from __future__ import annotations

import copy
import logging

import openai
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.agent_factory import AnyAgent

__all__ = ["without_retries"]

# The agent backend's warning, under the agent backend's logger, where it was said before this module
_log = logging.getLogger("rowrelay.tasks.llm.agent_backend")


def without_retries(agent: AnyAgent) -> tuple[AnyAgent, openai.AsyncOpenAI]:
    """The agent, and its SDK client, sending every request once: when its client retries, a copy of
    the agent on a copy of its `OpenAIChatClient` whose SDK client has `max_retries=0` (sharing its
    connection pool), with a warning saying so. The caller's own agent and clients are left as they
    were: they may serve other work of the caller's, retries and all."""
    client = agent.client
    if not isinstance(client, OpenAIChatClient):
        raise UsageError(
            f"rowrelay runs agents on OpenAIChatClient (Responses API), not {type(client).__name__}"
        )
    sdk = client.client
    if not isinstance(sdk, openai.AsyncOpenAI):
        raise UsageError(
            f"the agent's OpenAIChatClient runs on {type(sdk).__name__}, which rowrelay cannot stop from "
            "retrying creates; build it on an SDK client with no retries: "
            "OpenAIChatClient(async_client=openai.AsyncOpenAI(max_retries=0, ...))"
        )
    if sdk.max_retries == 0:
        return agent, sdk
    _log.warning(
        "agent %r: rowrelay runs it on a copy of its client with the OpenAI SDK's %d transport retries "
        "turned off (your client is left as it is). Its tool rounds create responses inside polls, and "
        "the SDK retries a create that timed out without an Idempotency-Key, which can start a second "
        "paid job; rowrelay retries failed calls itself. Build the agent on "
        "openai.AsyncOpenAI(max_retries=0) to silence this.",
        agent.name,
        sdk.max_retries,
    )
    quiet = sdk.with_options(max_retries=0)
    chat = copy.copy(client)  # AF's clients and agents hold their settings as attributes: shallow is whole
    chat.client = quiet
    copied = copy.copy(agent)
    copied.client = chat
    return copied, quiet
