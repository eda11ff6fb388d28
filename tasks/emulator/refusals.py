"""The 400 `invalid_request_error` a create is refused with, and the words the service refuses it in.

One function per kind of refusal, so each sentence is written once: a field of the wrong JSON type
(`invalid_type`), a value outside the field's set (`invalid_value`), a number out of its range, a
required field left out, a field the model does not take. The wordings are the service's, as its
production bodies show them (quoted where each is used: validation.py, fields.py, content_parts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn


@dataclass(slots=True)
class BadRequest(Exception):
    message: str
    param: str | None = None
    code: str | None = None


def invalid_type(param: str, expected: str, value: Any) -> BadRequest:
    """The service's 400 for a field of the wrong JSON type ("Invalid type for 'reasoning': expected an
    object, but got a string instead.")."""
    message = f"Invalid type for '{param}': expected {expected}, but got {json_type(value)} instead."
    return BadRequest(message, param, "invalid_type")


def invalid_value(value: str, param: str, known: tuple[str, ...]) -> BadRequest:
    """The service's 400 for a string outside the field's set ("Invalid value: 'x'. Supported values
    are: 'a' and 'b'."), listing `known` in the order the service lists them."""
    return BadRequest(
        f"Invalid value: {value!r}. Supported values are: {listed(known)}.", param, "invalid_value"
    )


def missing(param: str) -> NoReturn:
    raise BadRequest(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def unsupported(param: str) -> BadRequest:
    """The service's 400 for a field the model does not take at all."""
    return BadRequest(
        f"Unsupported parameter: '{param}' is not supported with this model.", param, "unsupported_parameter"
    )


def check_enum(value: Any, param: str, known: tuple[str, ...]) -> None:
    """Refuse a field that must be one of `known` strings: another type as `expected one of 'a' or 'b'`,
    another string as an invalid value (both wordings from production bodies for `truncation`,
    `service_tier`, `prompt_cache_retention`). Null asks for the default."""
    if value is None:
        return
    if not isinstance(value, str):
        raise invalid_type(param, f"one of {alternatives(known)}", value)
    if value not in known:
        raise invalid_value(value, param, known)


def check_choice(value: Any, param: str, known: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Refuse a string field outside the spec's `known` values, or outside those the model takes
    (`allowed`; none: the model takes no such field), in the service's words and order. Null asks for
    the default, which every model accepts."""
    if value is None:
        return
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if value not in known:
        raise invalid_value(value, param, known)
    if not allowed:
        raise unsupported(param)
    if value not in allowed:
        raise BadRequest(
            f"Unsupported value: '{param}' does not support {value!r} with this model. "
            f"Supported values are: {listed(allowed)}.",
            param,
            "unsupported_value",
        )


def check_range(param: str, value: float, bounds: tuple[int, int], kind: str) -> None:
    """Refuse a number outside `bounds` in the service's words, its `kind` (`decimal`, `integer`) named:
    "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead."
    The number is shown as sent (`3`, `2.5`): Python's repr of the parsed JSON value."""
    low, high = bounds
    if value < low:
        raise BadRequest(
            f"Invalid '{param}': {kind} below minimum value. Expected a value >= {low}, but got {value!r} "
            "instead.",
            param,
            f"{kind}_below_min_value",
        )
    if value > high:
        raise BadRequest(
            f"Invalid '{param}': {kind} above maximum value. Expected a value <= {high}, but got {value!r} "
            "instead.",
            param,
            f"{kind}_above_max_value",
        )


def check_typed_object(value: Any, where: str, types: tuple[str, ...]) -> dict[str, Any]:
    """An object with a `type` among `types` (a tool, a content part), refused as the service words it."""
    if not isinstance(value, dict):
        raise invalid_type(where, "an object", value)
    if value.get("type") is None:
        missing(f"{where}.type")
    check_choice(value["type"], f"{where}.type", types, types)
    return value


def listed(values: tuple[str, ...]) -> str:
    """`'a', 'b', and 'c'`: how the service lists the values a field takes (`'a' and 'b'` for two)."""
    return _joined(values, "and")


def alternatives(values: tuple[str, ...]) -> str:
    """`'a', 'b', or 'c'`: how the service names the values a field of the wrong type should have had."""
    return _joined(values, "or")


def _joined(values: tuple[str, ...], word: str) -> str:
    quoted = [repr(value) for value in values]
    if len(quoted) < 3:
        return f" {word} ".join(quoted)
    return ", ".join(quoted[:-1]) + f", {word} " + quoted[-1]


def json_type(value: Any) -> str:
    """A value's JSON type as the service names it in an `invalid_type` message ("... but got a decimal
    number instead." for 1.5 where an integer is expected, a production body)."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, dict):
        return "an object"
    return "an array" if isinstance(value, list) else "a string"
