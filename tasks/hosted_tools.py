"""`--tools`: the server-side tools (web search, file search, code interpreter, remote MCP servers) every
row's create offers the model, as the Responses API's `tools` array.

Only hosted tools: the server runs them inside the background response, so a row still needs nothing but
its create and its wait. A tool the caller must run (a function, a shell, a computer) would leave the
response waiting on rowrelay to answer it: that is an agent's work (`--agent`), and is refused here.

The option's value is one string everywhere (the command line, `ROWRELAY_TOOLS`, a deployment's
parameter): tool names separated by commas (`web_search,code_interpreter`, for the tools that need no
configuration), a JSON file's path, or the JSON itself (an array of the API's tool objects, or one).
`canonical` turns any of them into the JSON array sent, so the settings, `run.json` and a Dask worker
hold the tools themselves, never a path that might mean something else later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rowrelay.tasks.setting_problems import one_of, option_of
from rowrelay.tasks.urls import holds_credentials, holds_query

__all__ = ["BY_NAME", "canonical", "research_problem", "tool_family", "tool_list"]

BY_NAME: Mapping[str, Mapping[str, Any]] = {
    "web_search": {"type": "web_search"},
    "web_search_preview": {"type": "web_search_preview"},
    "code_interpreter": {"type": "code_interpreter", "container": {"type": "auto"}},
}
"""The tools `--tools` takes by name: those the API runs with no configuration of the caller's."""

_HOSTED = (
    "web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11",
    "file_search", "code_interpreter", "mcp",
)  # fmt: skip
"""The spec's `Tool` types the server runs itself."""
_CALLERS = (
    "function", "custom", "computer", "computer_use_preview", "local_shell", "shell", "apply_patch",
    "namespace", "tool_search",
)  # fmt: skip
"""The spec's `Tool` types whose calls the caller answers: a batch has nobody to answer them."""
_SECRETS = ("authorization", "headers")
"""MCP fields that carry credentials: the tools are recorded in run.json and Prefect's parameters."""


def canonical(value: str) -> str:
    """`value` (names, a JSON file's path, or JSON) as the compact JSON array of tool objects sent with
    every create; `ValueError` saying what is wrong, in one line, for anything the API or a batch cannot
    take."""
    return json.dumps(_checked(_parsed(value.strip())), separators=(",", ":"))


def tool_list(value: str | None) -> tuple[dict[str, Any], ...]:
    """The tools a canonical `--tools` value holds (none for None)."""
    return () if value is None else tuple(json.loads(value))


_RESEARCH = ("web_search", "web_search_preview", "file_search", "mcp")
"""The tool families a deep research model gathers its sources with: OpenAI refuses it a create without."""


def research_problem(model: str, tools: tuple[dict[str, Any], ...]) -> str | None:
    """Why every create of a deep research model would be refused (no tool to research with), else None:
    said before anything starts rather than by the server at the first create."""
    if "deep-research" not in model or any(tool_family(str(tool.get("type"))) in _RESEARCH for tool in tools):
        return None
    return (
        f"{one_of('model', (model,))}: a deep research model needs a web search, file search or MCP tool to "
        f"research with, and OpenAI refuses it any create without one: add "
        f"{one_of('tools', ('web_search_preview',))} (or a JSON file of file_search or mcp tools)"
    )


def tool_family(kind: str) -> str:
    """A dated tool type's family (`web_search_preview_2025_03_11`: `web_search_preview`)."""
    return re.sub(r"_\d{4}_\d{2}_\d{2}$", "", kind)


def _parsed(value: str) -> Any:
    if value.startswith(("[", "{")):
        return _json(value, "its JSON")
    if value.endswith(".json"):
        path = Path(value).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from exc
        return _json(text, value)
    names = [name.strip() for name in value.split(",")]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise ValueError(
            f"{unknown[0]!r} is not a tool name ({', '.join(BY_NAME)}); for a tool that needs its own "
            "settings (file_search's vector stores, an MCP server), give a JSON file of tool objects"
        )
    return [dict(BY_NAME[name]) for name in dict.fromkeys(names)]


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{where} is not JSON ({exc})") from exc


def _checked(tools: Any) -> list[dict[str, Any]]:
    listed = [tools] if isinstance(tools, dict) else tools
    if not isinstance(listed, list):
        raise ValueError("expected a JSON array of tool objects (or one tool object)")
    if not listed:
        raise ValueError(f"no tool in the list: name at least one, or leave {option_of('tools')} out")
    for index, tool in enumerate(listed):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise ValueError(f"tool {index + 1} is not an object with a 'type'")
        _check_tool(tool, f"tool {index + 1} ({tool['type']})")
        if tool in listed[:index]:  # `web_search,web_search`: sent twice in every create
            raise ValueError(f"tool {index + 1} ({tool['type']}) is tool {listed.index(tool) + 1} again")
    return listed


def _check_tool(tool: dict[str, Any], which: str) -> None:
    kind = tool["type"]
    if kind in _CALLERS:
        raise ValueError(
            f"{which}: its calls are answered by the caller, and a background batch has nobody to answer "
            f"them; run the rows through an Agent Framework agent that holds the tool ({option_of('agent')})"
        )
    if kind == "image_generation":
        raise ValueError(
            f"{which}: its images would be billed and then lost, as rowrelay keeps each row's text answer"
        )
    if kind not in _HOSTED:
        raise ValueError(f"{which}: not a tool type the server runs ({', '.join(_HOSTED)})")
    if kind == "file_search" and not _strings(tool.get("vector_store_ids")):
        raise ValueError(f"{which}: needs 'vector_store_ids', the ids of the vector stores to search")
    if kind == "code_interpreter" and "container" not in tool:
        raise ValueError(f'{which}: needs a \'container\' (an id, or {{"type": "auto"}})')
    if kind == "mcp":
        _check_mcp(tool, which)


def _check_mcp(tool: dict[str, Any], which: str) -> None:
    if not isinstance(tool.get("server_label"), str):
        raise ValueError(f"{which}: needs a 'server_label'")
    if not isinstance(tool.get("server_url"), str) and not isinstance(tool.get("connector_id"), str):
        raise ValueError(f"{which}: needs a 'server_url' (or a 'connector_id')")
    if tool.get("require_approval") != "never":
        raise ValueError(
            f'{which}: needs "require_approval": "never": a call waiting for approval would stop the '
            "row's background response, and a batch has nobody to approve it"
        )
    url = tool.get("server_url")
    if isinstance(url, str) and (holds_credentials(url) or holds_query(url)):
        # Said without the URL, as a base URL holding a key is: the refusal must not repeat it either.
        where = "credentials (user:password@)" if holds_credentials(url) else "a query or fragment (?...)"
        raise ValueError(
            f"{which}: its 'server_url' holds {where}, which may be a key and would be written to the "
            "batch's run.json and Prefect's parameters, where no secret may go; rowrelay reaches only MCP "
            "servers that need no credentials"
        )
    present = [name for name in _SECRETS if name in tool]
    if present:
        raise ValueError(
            f"{which}: '{present[0]}' would be written to the batch's run.json and Prefect's parameters, "
            "where no secret may go; rowrelay reaches only MCP servers that need no credentials"
        )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, str) for item in value)
