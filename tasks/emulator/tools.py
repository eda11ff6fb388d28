"""Function tools: when the fake model calls one, and with which arguments.

A create whose `tools` hold a function tool is answered with one `function_call` item, unless the caller
ruled tools out (`tool_choice: "none"`) or the input already answers a call with a `function_call_output`
item: then the model has what it asked for and answers in text, quoting what the tool said so a test can
see the output reached the model. The arguments are a pure function of the seed, the request digest and
the function's JSON-Schema `parameters`, and always valid against them (see `schema_values`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from rowrelay.tasks.emulator.hosted_tools import echo_hosted
from rowrelay.tasks.emulator.schema_values import Draw, draw_value

_MENTION_LIMIT = 200  # characters of each tool output quoted back; outputs may be megabytes


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The one function call a response makes: the function's name and its arguments as streamed."""

    name: str
    chunks: tuple[str, ...]  # the arguments' JSON text, cut as the `arguments.delta` events carry it

    @property
    def arguments(self) -> str:
        return "".join(self.chunks)


def function_to_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function tool this request makes the model call (`name`, `parameters`, ...), or None when it
    answers in text. A Responses tool holds its name itself; a Chat Completions one (a request with
    `messages`) nests it under `function`, and its outputs come back as `tool` messages."""
    chat = "messages" in body
    functions = [
        function
        for tool in body.get("tools") or ()
        if isinstance(tool, dict)
        and tool.get("type") == "function"
        and isinstance(function := tool.get("function") if chat else tool, dict)
        and isinstance(function.get("name"), str)
    ]
    choice = body.get("tool_choice")
    answered = _chat_tool_outputs(body) if chat else tool_outputs(body.get("input"))
    if not functions or choice == "none" or answered:
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        wanted = (choice.get("function") or {}).get("name") if chat else choice.get("name")
        named = [function for function in functions if function["name"] == wanted]
        return named[0] if named else functions[0]
    return functions[0]


def _chat_tool_outputs(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [
        str(message.get("content"))
        for message in messages
        if isinstance(message, dict) and message.get("role") == "tool"
    ]


def tool_outputs(value: Any) -> list[str]:
    """The outputs of the `function_call_output` items of a Responses `input`, as text."""
    if not isinstance(value, list):
        return []
    outputs = []
    for item in value:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):  # content parts: keep their text
                output = " ".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
            outputs.append(output if isinstance(output, str) else orjson.dumps(output).decode())
    return outputs


def items_of_type(value: Any, kind: str) -> list[dict[str, Any]]:
    """The input items of one `type` (function_call, function_call_output, ...)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict) and item.get("type") == kind]


def mention(outputs: list[str]) -> str:
    """The sentence a text answer opens with after a tool round: what the tools returned."""
    quoted = "; ".join(output[:_MENTION_LIMIT] for output in outputs)
    return f"The tool returned {quoted}. "


def plan_call(tool: Mapping[str, Any], seed: int, digest: bytes, max_deltas: int) -> ToolCall:
    """The call to `tool`, with arguments drawn from its parameters' schema."""
    schema = tool.get("parameters")
    root = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
    value = draw_value(root, Draw(seed, digest))
    text = orjson.dumps(value).decode()
    size = max(4, math.ceil(len(text) / max_deltas))
    return ToolCall(tool["name"], tuple(text[i : i + size] for i in range(0, len(text), size)))


def echo_tools(tools: Any) -> Any:
    """The request's tools as a Response echoes them: function tools with every field the spec's
    `FunctionTool` requires, hosted tools with their defaults (`echo_hosted`). `strict` omitted means
    strict when the schema allows it (the spec's words: "Responses attempts to use strict validation when
    the schema is compatible")."""
    if not isinstance(tools, list):
        return tools
    echoed = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "function" and "name" in tool:
            parameters = tool.get("parameters")
            strict = tool.get("strict")
            strict = _strict_compatible(parameters) if strict is None else strict
            tool = {
                **tool,
                "description": tool.get("description"),
                "parameters": parameters,
                "strict": strict,
            }
        elif isinstance(tool, dict):
            tool = echo_hosted(tool)
        echoed.append(tool)
    return echoed


def _strict_compatible(schema: Any) -> bool:
    """Strict mode needs every object closed (`additionalProperties: false`) with all properties required."""
    if not isinstance(schema, dict):
        return schema is None
    if schema.get("type", "object") == "object" and "properties" in schema:
        properties = schema["properties"]
        if schema.get("additionalProperties") is not False or not isinstance(properties, dict):
            return False
        if set(schema.get("required") or ()) != set(properties):
            return False
    children = [*(schema.get("properties") or {}).values(), *(schema.get("$defs") or {}).values()]
    children += [schema.get("items")] if isinstance(schema.get("items"), dict) else []
    for key in ("anyOf", "oneOf", "allOf"):
        children += schema.get(key) or []
    return all(_strict_compatible(child) for child in children)
