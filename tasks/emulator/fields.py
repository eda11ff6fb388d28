"""Checks on the create fields a client most often gets wrong: their JSON type, their enum, their range.

Each field is decided here once, for both routes where it means the same (`top_p`, `tool_choice`,
`parallel_tool_calls`), and refused in the service's words: a production body's wording is quoted by
each check (bodies the service sent in 2026, quoted in public tests that mirror it). The enums are the
spec's, in the order the service lists them; tests/emulator/test_parameters.py holds them to the spec.
"""

from __future__ import annotations

from typing import Any, Literal

from rowrelay.tasks.emulator.refusals import (
    BadRequest,
    alternatives,
    check_enum,
    check_range,
    invalid_type,
    invalid_value,
    missing,
)

Route = Literal["responses", "chat"]

TRUNCATIONS = ("auto", "disabled")
"""The spec's `truncation` values ("Invalid value: 'x'. Supported values are: 'auto' and 'disabled'.")."""
TOOL_CHOICES = ("none", "auto", "required")
"""The spec's `ToolChoiceOptions` (Chat Completions' string choices are the same three)."""
TEXT_FORMATS = ("json_object", "text", "json_schema")
"""The types of the spec's `TextResponseFormatConfiguration`, in the order the 400 lists them."""
CHAT_FORMATS = ("json_object", "json_schema", "text")
"""Chat Completions' `response_format` types, in the order its 400 lists them."""
INCLUDES = (
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url",
    "code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs",
)  # fmt: skip
"""The spec's `IncludeEnum`, in its order, which is the 400's (param `include[0]`)."""
ROLES = ("assistant", "system", "developer", "user")
"""A Responses input message's roles (the spec's `EasyInputMessage`), in the 400's order: "Invalid
value: 'tool'. Supported values are: 'assistant', 'system', 'developer', and 'user'.", param `input[3]`
(the item, not its role), code `invalid_value`."""
CHAT_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
"""A chat message's roles, in the 400's order (param `messages[0].role`)."""
TOP_P = (0, 1)
"""The least and the greatest `top_p` the spec allows."""
OUTPUT_FLOOR = 16
"""The least `max_output_tokens` the spec allows."""


def check_flag(body: dict[str, Any], name: str) -> None:
    """A boolean field: "Invalid type for 'stream': expected a boolean, but got a string instead."."""
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid_type(name, "a boolean", value)


def check_object(body: dict[str, Any], name: str) -> None:
    """An object field: "Invalid type for 'stream_options': expected an object, but got a string
    instead."."""
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise invalid_type(name, "an object", value)


def check_top_p(value: Any) -> None:
    """A number from 0 to 1, refused as `temperature` is: "Invalid 'top_p': decimal above maximum value.
    Expected a value <= 1, but got 5 instead.", `decimal_above_max_value`."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # a bool is an int
        raise invalid_type("top_p", "a decimal", value)
    check_range("top_p", value, TOP_P, "decimal")


def check_tool_choice(value: Any, route: Route) -> None:
    """A mode (`none`, `auto`, `required`) or an object naming a tool; the objects are the tools'
    business (tools.py). Each route words a value of another type its own way."""
    if isinstance(value, str):
        check_enum(value, "tool_choice", TOOL_CHOICES)
    elif value is not None and not isinstance(value, dict):
        modes = alternatives(TOOL_CHOICES)
        expected = (
            f"one of an object or {modes}" if route == "responses" else f"one of one of {modes} or object"
        )
        raise invalid_type("tool_choice", expected, value)


def check_input(value: Any) -> None:
    """A Responses `input`: a string, or a list of items whose messages have a role the API knows.

    "Invalid type for 'input': expected one of a string or array of input items, but got an integer
    instead."; an item that is no object, "Invalid type for 'input[0]': expected an input item, ...". A
    message with a role of another type, or none, is refused as one whose role is `''`."""
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list):
        raise invalid_type("input", "one of a string or array of input items", value)
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise invalid_type(where, "an input item", item)
        if item.get("type", "message") != "message":
            continue  # a tool call, its output, a reasoning item: no role
        role = item.get("role")
        if role not in ROLES:
            raise invalid_value(role if isinstance(role, str) else "", where, ROLES)


def check_messages(value: Any) -> list[dict[str, Any]]:
    """Chat Completions' `messages` (present: its absence is refused first), each an object with a role
    the API knows, refused in the service's words; returns them."""
    if not isinstance(value, list):
        raise invalid_type("messages", "an array of objects", value)
    if not value:
        raise BadRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
            "array instead.",
            "messages",
            "empty_array",
        )
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise invalid_type(f"messages[{index}]", "an object", message)
        if message.get("role") is None:
            missing(f"messages[{index}].role")
        check_enum(message["role"], f"messages[{index}].role", CHAT_ROLES)
    return value


def check_include(value: Any) -> None:
    """A list of the spec's include values: "Invalid value: 'x'. Supported values are: ..." (param
    `include[0]`). Of another type, the service names the values cut to their ends ('fil...lts')."""
    if value is None:
        return
    if not isinstance(value, list):
        ends = tuple(f"{name[:3]}...{name[-3:]}" for name in INCLUDES)
        raise invalid_type("include", f"an array of one of {alternatives(ends)}", value)
    for index, name in enumerate(value):
        check_enum(name, f"include[{index}]", INCLUDES)


def check_text_format(text: Any) -> None:
    """The Responses `text` object and its `format.type` ("Invalid value: 'json'. Supported values are:
    'json_object', 'text', and 'json_schema'.", param `text.format.type`); a `json_schema` format's
    name and schema are structured.py's."""
    if text is None:
        return
    if not isinstance(text, dict):
        raise invalid_type("text", "an object", text)
    _check_format(text.get("format"), "text.format", TEXT_FORMATS)


def check_response_format(value: Any) -> None:
    """Chat Completions' `response_format` and its `type`, as `text.format` is checked."""
    _check_format(value, "response_format", CHAT_FORMATS)


def _check_format(value: Any, where: str, types: tuple[str, ...]) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid_type(where, "an object", value)
    if value.get("type") is None:
        missing(f"{where}.type")
    check_enum(value["type"], f"{where}.type", types)


def check_instructions(value: Any) -> None:
    """A string or null: "Invalid type for 'instructions': expected a string, but got an integer
    instead."."""
    if value is not None and not isinstance(value, str):
        raise invalid_type("instructions", "a string", value)


def check_max_output_tokens(limit: Any) -> None:
    """An integer of at least 16. Another type is an `invalid_type` ("Invalid type for
    'max_output_tokens': expected an integer, but got a string instead."), not a value below the least."""
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int):  # a bool is an int
        raise invalid_type("max_output_tokens", "an integer", limit)
    if limit < OUTPUT_FLOOR:
        raise BadRequest(
            "Invalid 'max_output_tokens': integer below minimum value. "
            f"Expected a value >= {OUTPUT_FLOOR}, but got {limit} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )


def check_truncation(value: Any) -> None:
    check_enum(value, "truncation", TRUNCATIONS)
