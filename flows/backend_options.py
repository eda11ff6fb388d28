"""Options a run's backend has no way to send, refused when the request is built, before anything starts:
taken silently they did nothing (a stream mode on Chat Completions answered each row whole), or were
dropped from every create.

    refuse_unsendable(settings, agent, given)   # UsageError naming the option, as it was given
"""

from __future__ import annotations

from typing import Any

from rowrelay.flows.backends import azure_base_url_problem
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.hosted_tools import research_problem, tool_list
from rowrelay.tasks.setting_problems import one_of, option_of, said_as
from rowrelay.tasks.settings import Settings

__all__ = ["refuse_unsendable"]

_RESPONSES = ("openai", "azure")
"""The backends on the Responses API, named where an option needs one of them."""


def refuse_unsendable(settings: Settings, agent: str | None, given: dict[str, Any]) -> None:
    """Options the run's backend has no way to send: refused before anything starts, not dropped."""
    if (problem := azure_base_url_problem(settings, given)) is not None:
        raise UsageError(problem)
    if settings.mode == "stream" and settings.backend == "chat":
        # Taken silently, it did nothing: a user who asked for streams (to see answers come, or to outlast
        # the request timeout) got each answer whole, as in poll mode.
        raise UsageError(
            f"{said_as('mode', given)}: Chat Completions has no stream mode: it has no background mode, and "
            f"each row's answer comes whole with its create; leave the mode out, or stream with "
            f"{one_of('backend', _RESPONSES)}"
        )
    if agent is not None and settings.backend == "chat":
        # Found when the flow built its backend (tasks/llm/client.py, which keeps the check for
        # open_session), it came after Prefect had started and the state folder was written.
        raise UsageError(
            f"{option_of('agent')}: an agent runs on the Responses API, not on Chat Completions "
            f"({said_as('backend', given)} chat): run it with the backend emulator, openai or azure"
        )
    if settings.reasoning_summary is not None and settings.backend == "chat":
        raise UsageError(
            f"{said_as('reasoning_summary', given)}: Chat Completions writes no reasoning summary; ask the "
            f"Responses API for one ({one_of('backend', _RESPONSES)})"
        )
    for name, value in (("tools", settings.tools), ("max_tool_calls", settings.max_tool_calls)):
        if value is None:
            continue
        option = said_as(name, given)
        if settings.backend == "chat":
            raise UsageError(
                f"{option}: Chat Completions runs no server-side tools ({one_of('backend', _RESPONSES)})"
            )
        if agent is not None or settings.backend == "agent":
            raise UsageError(
                f"{option}: an agent's tools are its own: give them to the agent its factory builds"
            )
    if agent is None and settings.backend != "agent":
        problem = research_problem(settings.model, tool_list(settings.tools))
        if problem is not None:
            raise UsageError(problem)
    if settings.max_tool_calls is not None and settings.tools is None:
        raise UsageError(
            f"{said_as('max_tool_calls', given)}: no {option_of('tools')} are given, so no row's response "
            "calls a tool"
        )
    if settings.logprobs is not None and (agent is not None or settings.backend == "agent"):
        raise UsageError(
            f"{said_as('logprobs', given)}: an agent hands back its answer's text, not its tokens' log "
            f"probabilities ({one_of('backend', ('openai', 'azure', 'chat'))} give them)"
        )
