"""Which server an agent run's calls reach, for `--backend agent`: the one decision that the client, the
run's Prefect tag and its closing line all follow.

`--backend agent` runs an Agent Framework agent (the plain one, or `--agent`'s) over OpenAI, or the
configured base URL, exactly as `--agent` alone does on a run whose backend resolves to `openai`: one run
was labelled `openai (agent mypkg.agents:make_agent)` or `agent (agent mypkg.agents:make_agent)`
depending on whether `--backend agent` was also given. It is said by its server, `openai`, with the
agent beside it. Agent Framework is not imported here: the label is said by runs without the extra.
"""

from __future__ import annotations

__all__ = ["AGENT_BACKEND", "agent_said", "transport_of"]

AGENT_BACKEND = "agent"
"""`--backend agent`: rows run by an agent, over OpenAI."""


def transport_of(backend: str) -> str:
    """The backend whose server a run's calls reach: `agent` runs over OpenAI; the others are their own."""
    return "openai" if backend == AGENT_BACKEND else backend


def agent_said(agent: str | None, backends: set[str]) -> str:
    """What the closing line adds to the server for the agent that ran the rows: ` (agent SPEC)` for
    `--agent SPEC`, ` (agent)` for `--backend agent`'s plain one, nothing when no agent ran them."""
    if agent is not None:
        return f" (agent {agent})"
    return " (agent)" if AGENT_BACKEND in backends else ""
