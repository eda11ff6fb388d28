"""Values drawn from a JSON Schema: what the fake model puts in a function call's arguments and in a
structured (`json_schema`) answer.

A value is a pure function of the schema, the seed, the request digest and a salt, and is valid against
the schema for the subset of JSON Schema that function tools and Structured Outputs use: `type` (one or a
list, `null` included), `const`, `enum`, objects (every property: strict mode requires them all), arrays
(`minItems`/`maxItems`), strings (`minLength`/`maxLength`, the common `format`s), numbers and integers
(`minimum`/`maximum`, their exclusive forms, `multipleOf`), `anyOf` (a drawn alternative, so a nullable
union is sometimes null), and `$ref`s into `$defs` (recursive ones too: deep down, the shortest choice).
`pattern` is not honoured: a drawn string matches it only by chance.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

_WORDS = (
    "billing", "refund", "login", "urgent", "ticket", "order", "summary", "delivery", "account",
    "password", "invoice", "shipping", "customer", "reset", "payment", "plan",
)  # fmt: skip
_DEEP = 4
"""Nesting depth past which recursion is cut short: arrays get their fewest items, unions prefer null."""
_FORMATS = {
    "date-time": "2024-06-03T09:55:00Z",
    "date": "2024-06-03",
    "time": "09:55:00",
    "duration": "P1D",
    "email": "support@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
}


@dataclass(frozen=True, slots=True)
class Draw:
    """Deterministic numbers in [0, 1), one per place in the value (its JSON path)."""

    seed: int
    digest: bytes
    salt: str = "arg"

    def __call__(self, path: str) -> float:
        raw = hashlib.blake2b(
            self.digest + f"|{self.seed}|{self.salt}|{path}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(raw, "big") / 2.0**64


def draw_value(schema: Any, draw: Draw) -> Any:
    """A value valid against `schema` (the root, whose `$defs` `$ref`s point into)."""
    root = schema if isinstance(schema, dict) else {}
    return _value(schema, root, draw, "$", 0)


def resolve(ref: str, root: dict[str, Any]) -> Any:
    """The schema a local `$ref` (`#/...`, JSON Pointer escapes honoured) points at, or None."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    target: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        target = target.get(part) if isinstance(target, dict) else None
    return target


def _value(schema: Any, root: dict[str, Any], draw: Draw, path: str, depth: int) -> Any:
    if not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _value(resolve(ref, root), root, draw, path, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        options = schema["enum"]
        return options[int(draw(path) * len(options))]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _value(_alternative(options, draw(path + "|of"), depth), root, draw, path, depth)
    return _typed(_type_of(schema, draw(path + "|type"), depth), schema, root, draw, path, depth)


def _alternative(options: list[Any], u: float, depth: int) -> Any:
    if depth >= _DEEP:  # stop a recursive schema: null if allowed, else the first alternative
        nulls = [o for o in options if isinstance(o, dict) and o.get("type") == "null"]
        return (nulls or options)[0]
    return options[int(u * len(options))]


def _type_of(schema: dict[str, Any], u: float, depth: int) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k) for k in kind] or ["null"]
        if depth >= _DEEP and "null" in kinds:
            return "null"
        return kinds[int(u * len(kinds))]
    if kind is None:
        return "object" if "properties" in schema else "string"
    return str(kind)


def _typed(kind: str, schema: dict[str, Any], root: dict[str, Any], draw: Draw, path: str, depth: int) -> Any:
    u = draw(path)
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {
            name: _value(sub, root, draw, f"{path}.{name}", depth + 1) for name, sub in properties.items()
        }
    if kind == "array":
        low = int(schema.get("minItems") or 0)
        high = int(schema.get("maxItems", low + 3))
        count = low if depth >= _DEEP else low + min(high - low, int(u * (min(high, low + 3) - low + 1)))
        items = schema.get("items", {})
        return [_value(items, root, draw, f"{path}[{i}]", depth + 1) for i in range(count)]
    if kind in ("integer", "number"):
        return _number(kind, schema, u)
    if kind == "boolean":
        return u < 0.5
    if kind == "null":
        return None
    return _string(schema, u)


def _number(kind: str, schema: dict[str, Any], u: float) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None:
        low = 0 if high is None or high >= 100 else high - 100
    if high is None:
        high = low + 100
    step = schema.get("multipleOf") or (1 if kind == "integer" else 0.01)
    first, last = math.ceil(low / step), math.floor(high / step)
    if "exclusiveMinimum" in schema and first * step <= schema["exclusiveMinimum"]:
        first += 1
    if "exclusiveMaximum" in schema and last * step >= schema["exclusiveMaximum"]:
        last -= 1
    multiple = first + int(u * (max(first, last) - first + 1))
    value = multiple * step
    return int(value) if kind == "integer" else round(value, 6)


def _string(schema: dict[str, Any], u: float) -> str:
    fixed = _FORMATS.get(str(schema.get("format")))
    if fixed is not None:
        return fixed
    start = int(u * len(_WORDS))
    text = " ".join(_WORDS[(start + i) % len(_WORDS)] for i in range(1 + int(u * 997) % 4))
    low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
    while len(text) < low:
        text += " " + text
    return text if high is None else text[: int(high)]
