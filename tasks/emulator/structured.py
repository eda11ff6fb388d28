"""Structured Outputs: a `json_schema` text format, refused as the service refuses it or answered with JSON.

The Responses API takes it as `text.format = {type: json_schema, name, schema, strict}`, Chat Completions
as `response_format = {type: json_schema, json_schema: {name, schema, strict}}`. An invalid name or, with
`strict: true`, a schema outside the strict subset is refused with the service's 400 and its wording:
`Invalid schema for response_format 'NAME': In context=('properties', 'x'), ...`, with `param`
`text.format.schema` and code `invalid_json_schema` (Responses), or `param` `response_format` and no
code (Chat Completions). The answer is JSON drawn from the schema (`schema_values`); the
`invalid_json_rate` fault makes it broken JSON or JSON that breaks the schema instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from rowrelay.tasks.emulator.refusals import BadRequest
from rowrelay.tasks.emulator.schema_values import Draw, draw_value, resolve

Route = Literal["responses", "chat"]
Mangle = Literal["broken", "mismatch"]
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_UNSUPPORTED = (
    "allOf", "oneOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
    "patternProperties", "unevaluatedProperties", "propertyNames", "minProperties", "maxProperties",
)  # fmt: skip
"""Keywords outside strict mode's subset (the Structured Outputs guide's list of unsupported ones)."""


@dataclass(frozen=True, slots=True)
class JsonFormat:
    name: str
    schema: dict[str, Any]
    strict: bool


def json_format(body: dict[str, Any], route: Route) -> JsonFormat | None:
    """The request's `json_schema` format, checked (BadRequest as the service words it), or None."""
    if route == "responses":
        text = body.get("text")
        spec = text.get("format") if isinstance(text, dict) else None
        if not isinstance(spec, dict) or spec.get("type") != "json_schema":
            return None
        where = "text.format"
    else:
        outer = body.get("response_format")
        if not isinstance(outer, dict) or outer.get("type") != "json_schema":
            return None
        spec, where = outer.get("json_schema"), "response_format.json_schema"
        if not isinstance(spec, dict):
            raise BadRequest(f"Missing required parameter: '{where}'.", where, "missing_required_parameter")
    name = spec.get("name")
    if not isinstance(name, str):
        raise BadRequest(
            f"Missing required parameter: '{where}.name'.", f"{where}.name", "missing_required_parameter"
        )
    if not _NAME.match(name):
        raise BadRequest(
            f"Invalid '{where}.name': string does not match pattern. Expected a string that matches the "
            "pattern '^[a-zA-Z0-9_-]+$'.",
            f"{where}.name",
            "invalid_value",
        )
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise BadRequest(
            f"Missing required parameter: '{where}.schema'.", f"{where}.schema", "missing_required_parameter"
        )
    strict = spec.get("strict") is True
    problem = strict_problem(schema) if strict else None
    if problem is not None:
        message = f"Invalid schema for response_format '{name}': {problem}"
        if route == "responses":
            raise BadRequest(message, "text.format.schema", "invalid_json_schema")
        raise BadRequest(message, "response_format", None)
    return JsonFormat(name, schema, strict)


def strict_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` is outside strict mode's subset, in the service's words, or None."""
    if schema.get("type") != "object":
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{schema.get('type')}\"'."
    return _problem(schema, schema, ())


def _problem(schema: Any, root: dict[str, Any], context: tuple[str, ...]) -> str | None:
    if not isinstance(schema, dict):
        return None
    where = f"In context={context!r},"
    for keyword in _UNSUPPORTED:
        if keyword in schema:
            return f"{where} '{keyword}' is not permitted."
    ref = schema.get("$ref")
    if isinstance(ref, str) and resolve(ref, root) is None:
        return f"{where} reference '{ref}' can't be resolved."
    kind = schema.get("type")
    kinds: list[Any] = kind if isinstance(kind, list) else [kind]
    properties = schema.get("properties")
    if "object" in kinds or isinstance(properties, dict):
        if schema.get("additionalProperties") is not False:
            return f"{where} 'additionalProperties' is required to be supplied and to be false."
        names = list(properties) if isinstance(properties, dict) else []
        listed = schema.get("required")
        required: list[Any] = listed if isinstance(listed, list) else []
        missing = [name for name in names if name not in required]
        if missing:
            return (
                f"{where} 'required' is required to be supplied and to be an array including every key in "
                f"properties. Missing '{missing[0]}'."
            )
    children: list[tuple[tuple[str, ...], Any]] = []
    for key in ("properties", "$defs", "definitions"):
        for name, child in (schema.get(key) or {}).items():
            children.append(((*context, key, name), child))
    if isinstance(schema.get("items"), dict):
        children.append(((*context, "items"), schema["items"]))
    for index, child in enumerate(schema.get("anyOf") or ()):
        children.append(((*context, "anyOf", str(index)), child))
    for path, child in children:
        problem = _problem(child, root, path)
        if problem is not None:
            return problem
    return None


def answer(fmt: JsonFormat, seed: int, digest: bytes, mangle: Mangle | None) -> str:
    """The JSON text a structured answer carries: valid against the schema, or mangled as the fault says."""
    value = draw_value(fmt.schema, Draw(seed, digest, "json"))
    if mangle == "mismatch":
        value = _mismatched(value, fmt.schema)
    text = orjson.dumps(value).decode()
    if mangle == "broken":
        return text[: max(1, len(text) // 2)]  # cut mid-value: not JSON at all
    return text


def _mismatched(value: Any, schema: dict[str, Any]) -> Any:
    """Valid JSON that breaks the schema: a required field left out, else an extra one."""
    required = schema.get("required") or []
    if isinstance(value, dict) and required:
        return {key: item for key, item in value.items() if key != required[0]}
    if isinstance(value, dict):
        return {**value, "unexpected_field": True}
    return {"unexpected_field": True}


def echo(text: Any) -> Any:
    """The request's `text` as a Response echoes it: a json_schema format with its `strict` spelled out
    (the spec's default is false)."""
    if not isinstance(text, dict) or not isinstance(text.get("format"), dict):
        return text
    fmt = text["format"]
    if fmt.get("type") != "json_schema":
        return text
    return {**text, "format": {**fmt, "strict": fmt.get("strict") is True}}
