"""Hosted and client-side tools: a Responses create's `tools` are refused as OpenAI refuses them, tools
other than functions, web search and file search are accepted, echoed with their defaults and never
called, and Chat Completions takes function and custom tools only."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    ApplyPatchTool,
    ComputerUsePreviewTool,
    CustomTool,
    FunctionShellTool,
    Response,
)
from openai.types.responses.tool import CodeInterpreter, ImageGeneration, LocalShell, Mcp

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec, check_response
from tests.support.emulator_checks import PROMPT, check_refusal
from tests.support.web_search import CODE, WEB_SEARCH, mcp

TOOL_TYPES = (
    "'function', 'file_search', 'computer', 'computer_use_preview', 'web_search', 'web_search_2025_08_26', "
    "'mcp', 'code_interpreter', 'programmatic_tool_calling', 'image_generation', 'local_shell', 'shell', "
    "'custom', 'namespace', 'tool_search', 'web_search_preview', 'web_search_preview_2025_03_11', and "
    "'apply_patch'"
)
MISSING = "Missing required parameter: '{param}'."
NO_SERVER = (
    "Missing required parameter: one of 'tools[0].server_url', 'tools[0].connector_id', or "
    "'tools[0].tunnel_id' must be provided."
)
NOT_ABOVE = (
    "Invalid 'max_tool_calls': integer below minimum value. Expected a value >= 0, but got -1 instead."
)
NOT_AN_INTEGER = "Invalid type for 'max_tool_calls': expected an integer, but got a string instead."
REFUSALS = {
    "unknown-type": ({"tools": [{"type": "browser"}]}, "tools[0].type", "invalid_value",
                     f"Invalid value: 'browser'. Supported values are: {TOOL_TYPES}."),
    "the-second-unknown": ({"tools": [WEB_SEARCH, {"type": "web-search"}]}, "tools[1].type", "invalid_value",
                           f"Invalid value: 'web-search'. Supported values are: {TOOL_TYPES}."),
    "not-an-array": ({"tools": {"type": "web_search"}}, "tools", "invalid_type",
                     "Invalid type for 'tools': expected an array, but got an object instead."),
    "not-an-object": ({"tools": ["web_search"]}, "tools[0]", "invalid_type",
                      "Invalid type for 'tools[0]': expected an object, but got a string instead."),
    "no-type": ({"tools": [{"name": "x"}]}, "tools[0].type", "missing_required_parameter", MISSING),
    "function-without-name": ({"tools": [{"type": "function", "parameters": {}}]}, "tools[0].name",
                              "missing_required_parameter", MISSING),
    "file-search-without-stores": ({"tools": [{"type": "file_search"}]}, "tools[0].vector_store_ids",
                                   "missing_required_parameter", MISSING),
    "mcp-without-label": ({"tools": [WEB_SEARCH, {"type": "mcp", "server_url": "https://a.example"}]},
                          "tools[1].server_label", "missing_required_parameter", MISSING),
    "mcp-without-server": ({"tools": [{"type": "mcp", "server_label": "x"}]}, "tools[0]",
                           "missing_required_parameter", NO_SERVER),
    "code-interpreter-without-container": ({"tools": [{"type": "code_interpreter"}]}, "tools[0].container",
                                           "missing_required_parameter", MISSING),
    "max-tool-calls-negative": ({"tools": [WEB_SEARCH], "max_tool_calls": -1}, "max_tool_calls",
                                "integer_below_min_value", NOT_ABOVE),
    "max-tool-calls-a-string": ({"tools": [WEB_SEARCH], "max_tool_calls": "3"}, "max_tool_calls",
                                "invalid_type", NOT_AN_INTEGER),
}  # fmt: skip


@pytest.mark.parametrize(("fields", "param", "code", "message"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_tools_are_refused_in_openais_words_and_nothing_starts(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    fields: dict[str, Any],
    param: str,
    code: str,
    message: str,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="gpt-4.1", input=PROMPT, background=True, extra_body=fields)
    check_refusal(spec, caught.value, param, code, message)
    assert emulator.emulator.jobs_listing() == [], "nothing is started by a refused request"


async def create(client: AsyncOpenAI, spec: Spec, model: str, tools: list[Any]) -> Response:
    raw = await client.responses.with_raw_response.create(model=model, input=PROMPT, tools=tools)
    return check_response(spec, json.loads(raw.text))


ECHOES = [
    pytest.param(CODE, CodeInterpreter, {"container": {"type": "auto"}}, id="code_interpreter"),
    pytest.param(mcp(authorization="secret-token"), Mcp, {"allowed_tools": None, "headers": None,
                 "require_approval": "always"}, id="mcp"),
    pytest.param({"type": "image_generation", "quality": "high"}, ImageGeneration, {"quality": "high",
                 "size": "auto", "output_format": "png", "background": "auto"}, id="image_generation"),
    pytest.param({"type": "computer_use_preview", "environment": "browser", "display_width": 1024,
                  "display_height": 768}, ComputerUsePreviewTool, {}, id="computer_use_preview"),
    pytest.param({"type": "local_shell"}, LocalShell, {}, id="local_shell"),
    pytest.param({"type": "shell"}, FunctionShellTool, {}, id="shell"),
    pytest.param({"type": "custom", "name": "grep"}, CustomTool, {}, id="custom"),
    pytest.param({"type": "apply_patch"}, ApplyPatchTool, {}, id="apply_patch"),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "typed", "shown"), ECHOES)
@pytest.mark.parametrize("model", ["gpt-4.1", "o3"])
async def test_other_tools_are_echoed_with_their_defaults_and_never_called(
    client: AsyncOpenAI, spec: Spec, model: str, tool: Any, typed: type, shown: dict[str, Any]
) -> None:
    response = await create(client, spec, model, [tool])
    assert [item.type for item in response.output][-1:] == ["message"]
    assert len(response.output) == (2 if model == "o3" else 1), "the model answers without calling it"
    (echoed,) = response.tools
    assert isinstance(echoed, typed), "the SDK types the echoed tool as its own"
    as_sent = {key: value for key, value in tool.items() if key != "authorization"}
    assert echoed.to_dict(exclude_none=False) | as_sent == echoed.to_dict(exclude_none=False)
    assert shown.items() <= echoed.to_dict(exclude_none=False).items()
    assert "authorization" not in echoed.to_dict(), "a secret the service does not show"


@pytest.mark.parametrize("kind", ["web_search", "web_search_preview", "file_search", "mcp", "computer"])
async def test_chat_completions_take_function_and_custom_tools_only(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec, kind: str
) -> None:
    messages: Any = [{"role": "user", "content": PROMPT}]
    function: Any = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    hosted: Any = {"type": kind}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4.1", messages=messages, tools=[function, hosted])
    message = f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'."
    check_refusal(spec, caught.value, "tools[1].type", "invalid_value", message)
    assert emulator.emulator.jobs_listing() == []
    called = await client.chat.completions.create(model="gpt-4.1", messages=messages, tools=[function])
    assert called.choices[0].finish_reason == "tool_calls"
