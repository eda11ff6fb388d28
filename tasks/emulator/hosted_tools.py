"""A create's `tools` beyond function calling: which types each route takes, what each hosted tool
requires, what a deep research model needs, and how a Response echoes hosted tools.

Hosted tools (web search, file search, MCP, code interpreter, image generation) run on OpenAI's side. The
fake model uses the two that search (`searches.py`); it accepts the others and decides it does not need
them, as it does client-side tools other than functions (computer use, shells, custom, apply_patch).
"""

from __future__ import annotations

from typing import Any, Literal

from rowrelay.tasks.emulator.refusals import (
    BadRequest,
    check_typed_object,
    invalid_type,
    missing,
)

TOOL_TYPES: tuple[str, ...] = (
    "function", "file_search", "computer", "computer_use_preview", "web_search", "web_search_2025_08_26",
    "mcp", "code_interpreter", "programmatic_tool_calling", "image_generation", "local_shell", "shell",
    "custom", "namespace", "tool_search", "web_search_preview", "web_search_preview_2025_03_11",
    "apply_patch",
)  # fmt: skip
"""The types of the spec's `Tool` union, in its order (the order the 400 lists them in)."""
CHAT_TOOL_TYPES: tuple[str, ...] = ("function", "custom")
"""All Chat Completions takes: it has no hosted tools."""
WEB_SEARCH_TYPES = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)
FILE_SEARCH_TYPE = "file_search"
RESEARCH_TYPES = WEB_SEARCH_TYPES | {"mcp", FILE_SEARCH_TYPE}
"""Tools a deep research model can gather its sources with: it needs one of them."""
_REQUIRED: dict[str, tuple[str, ...]] = {
    "function": ("name",),
    "custom": ("name",),
    "file_search": ("vector_store_ids",),
    "mcp": ("server_label",),
    "code_interpreter": ("container",),
}
"""Fields the spec requires beyond `type`, for the tools rowrelay sends (and the two named ones)."""
_MCP_SERVERS = ("server_url", "connector_id", "tunnel_id")
"""An MCP tool names its server with one of these (the spec's words: "One of ... must be provided")."""

DEEP_RESEARCH_NEEDS_TOOLS = (
    "Deep research models require at least one of 'web_search_preview', 'mcp', or 'file_search' tools."
)
DEEP_RESEARCH_MCP_APPROVAL = (
    "Deep research models only support MCP tools with 'require_approval' set to 'never', "
    "but 'tools[{index}].require_approval' is not 'never'."
)


def is_deep_research(model: str) -> bool:
    """o3-deep-research, o4-mini-deep-research and their dated snapshots."""
    return "deep-research" in model.lower()


def tools_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A checked create's tools (none when it sent none)."""
    tools = body.get("tools")
    return [tool for tool in tools if isinstance(tool, dict)] if isinstance(tools, list) else []


def check_tools(body: dict[str, Any]) -> None:
    """Refuse a Responses create's `tools` and `max_tool_calls` as the service does, then what a deep
    research model cannot work with."""
    _check_types(body.get("tools"), TOOL_TYPES)
    tools = tools_of(body)
    for index, tool in enumerate(tools):
        _check_required(index, tool)
    _check_max_tool_calls(body.get("max_tool_calls"))
    if is_deep_research(str(body.get("model") or "")):
        _check_research_tools(tools)


def check_chat_tools(body: dict[str, Any]) -> None:
    """Refuse a chat completion's tools of any type but `function` and `custom`."""
    _check_types(body.get("tools"), CHAT_TOOL_TYPES)


def _check_types(tools: Any, types: tuple[str, ...]) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid_type("tools", "an array", tools)
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        check_typed_object(tool, where, types)


def _check_required(index: int, tool: dict[str, Any]) -> None:
    for field in _REQUIRED.get(tool["type"], ()):
        if tool.get(field) is None:
            missing(f"tools[{index}].{field}")
    if tool["type"] == "mcp" and all(tool.get(field) is None for field in _MCP_SERVERS):
        raise BadRequest(
            f"Missing required parameter: one of 'tools[{index}].server_url', "
            f"'tools[{index}].connector_id', or 'tools[{index}].tunnel_id' must be provided.",
            f"tools[{index}]",
            "missing_required_parameter",
        )


def _check_max_tool_calls(limit: Any) -> None:
    """The spec types it an integer; a negative count of calls is meaningless, so below 0 is refused."""
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int):  # a bool is an int to Python
        raise invalid_type("max_tool_calls", "an integer", limit)
    if limit < 0:
        raise BadRequest(
            "Invalid 'max_tool_calls': integer below minimum value. "
            f"Expected a value >= 0, but got {limit} instead.",
            "max_tool_calls",
            "integer_below_min_value",
        )


def _check_research_tools(tools: list[dict[str, Any]]) -> None:
    """A deep research model needs a source to research (web search, MCP or file search), and calls an
    MCP server only without asking for approval: there is nobody to approve in the middle of its run.
    `require_approval` defaults to `always` (the spec's default), so leaving it out is refused too."""
    if not any(tool["type"] in RESEARCH_TYPES for tool in tools):
        raise BadRequest(DEEP_RESEARCH_NEEDS_TOOLS, "tools")
    for index, tool in enumerate(tools):
        if tool["type"] == "mcp" and tool.get("require_approval") != "never":
            raise BadRequest(DEEP_RESEARCH_MCP_APPROVAL.format(index=index), "tools")


SearchKind = Literal["web", "file"]
"""What a search looks through: the web (a web search tool) or the files of vector stores (file search)."""


def search_kinds(body: dict[str, Any]) -> tuple[SearchKind, ...]:
    """The kinds of search the model may run, web before file: those whose tool is given (a file search
    naming a vector store), none when `tool_choice` rules tools out. Chat Completions has no hosted tools."""
    if "messages" in body or body.get("tool_choice") == "none":
        return ()
    web = any(tool.get("type") in WEB_SEARCH_TYPES for tool in tools_of(body))
    kinds: tuple[SearchKind, ...] = ("web",) if web else ()
    return kinds + (("file",) if vector_stores(body) else ())


def vector_stores(body: dict[str, Any]) -> tuple[str, ...]:
    """The vector stores the create's file search tools name, in order. A tool naming none (the emulator
    refuses only a missing list, not an empty one) gives the model nothing to search."""
    return tuple(
        store
        for tool in tools_of(body)
        if tool.get("type") == FILE_SEARCH_TYPE and isinstance(tool.get("vector_store_ids"), list)
        for store in tool["vector_store_ids"]
        if isinstance(store, str)
    )


_NOWHERE = {"type": "approximate", "city": None, "country": None, "region": None, "timezone": None}
_UNITED_STATES = {**_NOWHERE, "country": "US"}
"""Where web search places the user when the create does not say (the SDK's words: "If omitted or null,
defaults to the United States")."""
_DEFAULTS: dict[str, dict[str, Any]] = {
    "web_search": {"filters": None, "search_context_size": "medium", "user_location": _UNITED_STATES},
    "web_search_preview": {"search_context_size": "medium", "user_location": _UNITED_STATES},
    "file_search": {
        "filters": None,
        "max_num_results": 20,
        "ranking_options": {"ranker": "auto", "score_threshold": 0.0},
    },
    "mcp": {"allowed_tools": None, "headers": None, "require_approval": "always"},
    "image_generation": {
        "background": "auto",
        "moderation": "auto",
        "output_compression": 100,
        "output_format": "png",
        "partial_images": 0,
        "quality": "auto",
        "size": "auto",
    },
}
"""What a Response shows for the fields a hosted tool left out or null: the spec's defaults."""
_DEFAULTS["web_search_2025_08_26"] = _DEFAULTS["web_search"]
_DEFAULTS["web_search_preview_2025_03_11"] = _DEFAULTS["web_search_preview"]


def echo_hosted(tool: dict[str, Any]) -> dict[str, Any]:
    """A hosted tool as a Response echoes it: with its defaults filled in. An MCP tool's `authorization`
    is a secret the service neither stores nor shows, so it is left out."""
    defaults = _DEFAULTS.get(str(tool.get("type")))
    if defaults is None:
        return tool
    given = {key: value for key, value in tool.items() if value is not None and key != "authorization"}
    echoed = {**defaults, **given}
    location = given.get("user_location")
    if isinstance(location, dict) and "user_location" in defaults:
        echoed["user_location"] = {**_NOWHERE, **location}
    return echoed
