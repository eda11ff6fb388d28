"""Contract helpers: the official OpenAPI spec as JSON-Schema validators, and the SDK's pydantic types.

The spec (a vendored copy of `../shared/openai-openapi.yaml`, OpenAPI 3.1) is loaded once per test session.
OpenAPI 3.1 schemas
are JSON Schema 2020-12, except for a few leftover 3.0 `nullable: true` keywords, which are rewritten into
`{"type": [T, "null"]}` so that `null` validates where the spec means it to.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from openai import BaseModel as OpenAIModel
from openai._models import construct_type
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# A copy of the official OpenAPI spec (openai/openai-openapi f85dbe2, info.version 2.3.0), vendored
# gzipped so the suite runs on a clean checkout; its sha256 is pinned here and checked on load.
SPEC_PATH = Path(__file__).resolve().parent / "openai-openapi.yaml.gz"
SPEC_SHA256 = "db5d7478feae10b4d331834c60d9765a8aa042e38419f9b1694288c11aa8ebc8"
_SPEC_URI = "urn:openai-openapi"


def _denullable(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 `nullable: true` into JSON Schema 2020-12, recursively."""
    if isinstance(node, list):
        return [_denullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _denullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Spec:
    """Validators for the spec's component schemas, resolving `$ref`s into the whole document."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        raw = gzip.decompress(path.read_bytes())
        if hashlib.sha256(raw).hexdigest() != SPEC_SHA256:
            raise RuntimeError(f"{path} is not the pinned spec (sha256 {SPEC_SHA256})")
        document = _denullable(yaml.load(raw, Loader=yaml.CSafeLoader))
        self.schemas: dict[str, Any] = document["components"]["schemas"]
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        union = self.schemas["ResponseStreamEvent"]["anyOf"]
        self.event_schema_by_type: dict[str, str] = {}
        for ref in union:
            name = ref["$ref"].rsplit("/", 1)[-1]
            self.event_schema_by_type[self.schemas[name]["properties"]["type"]["enum"][0]] = name

    @functools.cache  # noqa: B019 - one Spec per session; the cache lives as long as it does
    def validator(self, name: str) -> jsonschema.protocols.Validator:
        schema = {"$ref": f"{_SPEC_URI}#/components/schemas/{name}"}
        return jsonschema.Draft202012Validator(schema, registry=self._registry)

    def errors(self, name: str, instance: Any) -> list[str]:
        found = sorted(self.validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in found]

    def check(self, name: str, instance: Any) -> None:
        problems = self.errors(name, instance)
        assert not problems, f"{name} does not validate against the spec:\n" + "\n".join(problems)

    def check_event(self, event: dict[str, Any]) -> None:
        """The event against its own schema (clear messages), then against the whole union."""
        name = self.event_schema_by_type.get(event.get("type", ""))
        assert name is not None, f"event type {event.get('type')!r} is not in the spec's union"
        self.check(name, event)
        self.check("ResponseStreamEvent", event)


_RESPONSE = TypeAdapter(Response)
_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def sdk_response(payload: dict[str, Any]) -> Response:
    """Parse as the SDK would (lenient), and validate with pydantic (strict about what is present)."""
    strict = _RESPONSE.validate_python(payload)
    lenient = construct_type(type_=Response, value=payload)
    assert isinstance(lenient, Response)
    assert strict.id == lenient.id
    return strict


def sdk_event(payload: dict[str, Any]) -> OpenAIModel:
    """Parse a stream event into the SDK's discriminated union, strictly, and check it picked `type`."""
    parsed = _EVENT.validate_python(payload)
    assert parsed.type == payload["type"]
    lenient = construct_type(type_=ResponseStreamEvent, value=payload)
    assert getattr(lenient, "type", None) == payload["type"]
    assert isinstance(parsed, OpenAIModel)
    return parsed


# --- what every payload must satisfy -----------------------------------------------------------------

_NOT_YET_USED = frozenset({"queued", "in_progress", "failed", "cancelled"})


def _spec_view(response: dict[str, Any]) -> dict[str, Any]:
    """The Response as the spec should see it: one known deviation:
    `usage` is `null` until the response ends with usage, as the real API sends it, while the spec types
    it as a non-nullable object. Only that key is let through, and only while there is no usage."""
    if response.get("usage", {}) is not None:
        return response
    assert response["status"] in _NOT_YET_USED, f"usage is null on a {response['status']} response"
    return {k: v for k, v in response.items() if k != "usage"}


def check_response(spec: Spec, payload: dict[str, Any]) -> Response:
    """A Response body: valid against the spec's `Response` and parsed by the SDK's pydantic type."""
    assert "output_text" not in payload, "output_text is SDK-only and must not be on the wire"
    spec.check("Response", _spec_view(payload))
    return sdk_response(payload)


NESTED_ERROR_KEYS = {"type", "sequence_number", "error"}


def check_event(spec: Spec, payload: dict[str, Any]) -> None:
    """A stream event: spec + SDK, except the nested `error` shape the service sends, which is not in the
    spec; it is checked against the production shape instead: {"type","sequence_number","error":{...}}."""
    if payload.get("type") == "error" and "error" in payload:
        assert set(payload) == NESTED_ERROR_KEYS, payload
        spec.check("Error", payload["error"])
        assert isinstance(payload["sequence_number"], int)
        return
    if "response" in payload:
        check_response(spec, payload["response"])
        spec.check_event({**payload, "response": _spec_view(payload["response"])})
    else:
        spec.check_event(payload)
    sdk_event(payload)
