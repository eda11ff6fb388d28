"""Function tools: when the fake model calls one, and with which arguments.

A create whose `tools` hold a function tool is answered with one `function_call` item, unless the caller
ruled tools out (`tool_choice: "none"`) or the input already answers a call with a `function_call_output`
item: then the model has what it asked for and answers in text, quoting what the tool said so a test can
see the output reached the model. The arguments are a pure function of the seed, the request digest and
the function's JSON-Schema `parameters`, and always valid against them (for the schemas function tools
use: objects, strings, numbers, booleans, enums, arrays, `$ref`s into `$defs`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

_ARGUMENT_WORDS = ("alpha", "billing", "refund", "login", "urgent", "ticket", "order", "summary")
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
    """The function tool this request makes the model call, or None when it answers in text."""
    functions = [
        tool
        for tool in body.get("tools") or ()
        # Chat Completions tools nest the name under "function": only the Responses shape counts here.
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("name"), str)
    ]
    choice = body.get("tool_choice")
    if not functions or choice == "none" or tool_outputs(body.get("input")):
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        named = [tool for tool in functions if tool["name"] == choice.get("name")]
        return named[0] if named else functions[0]
    return functions[0]


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
    value = _value(root, root, _Draw(seed, digest), "$")
    text = orjson.dumps(value).decode()
    size = max(4, math.ceil(len(text) / max_deltas))
    return ToolCall(tool["name"], tuple(text[i : i + size] for i in range(0, len(text), size)))


@dataclass(frozen=True, slots=True)
class _Draw:
    """Deterministic numbers in [0, 1), one per place in the arguments (its JSON path)."""

    seed: int
    digest: bytes

    def __call__(self, path: str) -> float:
        raw = hashlib.blake2b(self.digest + f"|{self.seed}|arg|{path}".encode(), digest_size=8).digest()
        return int.from_bytes(raw, "big") / 2.0**64


def _value(schema: Any, root: dict[str, Any], draw: _Draw, path: str) -> Any:
    if not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return _value(target, root, draw, path)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        options = schema["enum"]
        return options[int(draw(path) * len(options))]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            # The first alternative that is not just null (an Optional[...] parameter).
            options = [s for s in schema[key] if not (isinstance(s, dict) and s.get("type") == "null")]
            return _value((options or schema[key])[0], root, draw, path)
    return _typed(_type_of(schema), schema, root, draw, path)


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return str(kind)


def _typed(kind: str, schema: dict[str, Any], root: dict[str, Any], draw: _Draw, path: str) -> Any:
    u = draw(path)
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        # Every property, required or not: strict mode requires them all, and extras are allowed.
        return {name: _value(sub, root, draw, f"{path}.{name}") for name, sub in properties.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 1))
        return [_value(schema.get("items", {}), root, draw, f"{path}[{i}]") for i in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", max(low, 0) + 100)
        value = low + u * (high - low)
        return math.floor(value) if kind == "integer" else round(value, 2)
    if kind == "boolean":
        return u < 0.5
    if kind == "null":
        return None
    return _ARGUMENT_WORDS[int(u * len(_ARGUMENT_WORDS))]


def echo_tools(tools: Any) -> Any:
    """The request's tools as a Response echoes them: function tools with every field the spec's
    `FunctionTool` requires. `strict` omitted means strict when the schema allows it (the spec's words:
    "Responses attempts to use strict validation when the schema is compatible")."""
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
        echoed.append(tool)
    return echoed


def _strict_compatible(schema: Any) -> bool:
    """Strict mode needs every object closed (`additionalProperties: false`) with all properties required."""
    if not isinstance(schema, dict):
        return schema is None
    if _type_of(schema) == "object" and "properties" in schema:
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
