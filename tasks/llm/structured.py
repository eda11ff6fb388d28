"""Structured outputs: the JSON Schema every row's answer must follow, and the verdict on an answer.

    schema = load_output_schema("triage.json")          # or "mypkg.models:Triage", a dict, a model class
    request body: {"text": {"format": schema.text_format()}}   # type json_schema, strict
    schema.problem(text)    # None, or ("invalid_json" | "schema_mismatch", why)

A file or dict is sent as it is; a Pydantic model is turned into JSON Schema by the SDK's own converter
(the one `responses.parse(text_format=Model)` uses), which closes every object and requires every field.
Either way the schema must be valid JSON Schema (jsonschema's `check_schema`) and inside strict mode's
subset, judged by the emulator's rules, which follow the service's (`emulator.structured`): one place
says what strict mode takes. Every problem is a `UsageError` in one line, raised before anything is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic
from openai.lib._pydantic import to_strict_json_schema

from rowrelay.tasks.emulator.structured import strict_problem
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.user_code import import_user_module

SchemaSource = str | Mapping[str, Any] | type[pydantic.BaseModel]
"""What names a schema: a JSON Schema file (`.json`), `module:Model`, a JSON Schema dict, a model class."""
Problem = tuple[Literal["invalid_json", "schema_mismatch"], str]
_NAME_PART = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class OutputSchema:
    """A strict JSON Schema for every row's answer; `name` is the format's name the service requires."""

    name: str
    schema: dict[str, Any]
    source: str
    """Where it came from, as the user named it (for messages)."""
    _validator: Any = field(init=False, repr=False, compare=False)
    _accepts: Callable[[Any], Any] | None = field(init=False, repr=False, compare=False)

    def parts(self) -> tuple[str, dict[str, Any], str]:
        """What rebuilds it in another process (its compiled validator does not pickle)."""
        return self.name, self.schema, self.source

    def __post_init__(self) -> None:
        # jsonschema (~0.1 s to import: only runs with a schema pay for it) is the judge and words the
        # problem; fastjsonschema compiles the schema to Python, about 12x faster per answer (20 us a
        # check against 241 us, bench_structured), so a valid answer, nearly every one, is accepted at
        # that speed and only a rejected one is judged again, slowly, for its words.
        import fastjsonschema
        from jsonschema import Draft202012Validator

        object.__setattr__(self, "_validator", Draft202012Validator(self.schema))
        try:
            accepts: Callable[[Any], Any] | None = fastjsonschema.compile(self.schema)
        except Exception:  # a schema it cannot compile (an unknown format, say): jsonschema alone
            accepts = None
        object.__setattr__(self, "_accepts", accepts)

    def text_format(self) -> dict[str, Any]:
        """The Responses API's `text.format` (Agent Framework takes the same as its `response_format`)."""
        return {"type": "json_schema", "name": self.name, "schema": self.schema, "strict": True}

    def response_format(self) -> dict[str, Any]:
        """Chat Completions' `response_format`."""
        inner = {"name": self.name, "schema": self.schema, "strict": True}
        return {"type": "json_schema", "json_schema": inner}

    def problem(self, text: str | None) -> Problem | None:
        """Why an answer's text is not a value of the schema, or None when it is."""
        try:
            value = json.loads(text or "")
        except ValueError as exc:
            return "invalid_json", f"the answer is not JSON: {exc}"
        if self._accepts is not None and self._fast_accepts(value):
            return None
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is None:
            return None
        where = "".join(f"[{part!r}]" for part in error.absolute_path) or "the answer"
        return "schema_mismatch", f"the answer does not match the schema: {where}: {error.message}"

    def _fast_accepts(self, value: Any) -> bool:
        from fastjsonschema import JsonSchemaValueException

        assert self._accepts is not None
        try:
            self._accepts(value)
        except JsonSchemaValueException:
            return False
        return True


def load_output_schema(source: SchemaSource, *, named: str = "--schema") -> OutputSchema:
    """The schema `source` names, checked; a `UsageError` in one line when it is not usable, naming the
    setting as it was given (`named`: `--schema`, or `ROWRELAY_OUTPUT_SCHEMA` from the environment)."""
    try:
        return _loaded(source)
    except _NotUsable as exc:
        raise UsageError(f"{named} {exc.source!r}: {exc.problem}") from exc.__cause__


class _NotUsable(Exception):
    def __init__(self, source: str, problem: str) -> None:
        super().__init__(problem)
        self.source, self.problem = source, problem


def _loaded(source: SchemaSource) -> OutputSchema:
    if isinstance(source, type):
        return _of_model(source, source.__name__, f"{source.__module__}:{source.__qualname__}")
    if isinstance(source, Mapping):
        return _checked(dict(source), "the output_schema dict", "response")
    if not source.strip():
        raise _NotUsable(
            source, "names no file; give a JSON Schema file (.json) or a Pydantic model (module:Model)"
        )
    path = Path(source)
    if path.suffix.lower() == ".json" or path.is_file() or ":" not in source:
        return _of_file(path, source)
    module_name, _, attribute = source.partition(":")
    if not module_name or not attribute.isidentifier():
        raise _NotUsable(source, "expected a .json file or module:Model, e.g. mypkg.models:Triage")
    try:
        module = import_user_module(module_name)
    except Exception as exc:  # whatever the user's module raises on import
        raise _NotUsable(source, f"cannot import {module_name!r}: {exc}") from exc
    model = getattr(module, attribute, None)
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        found = "nothing by that name" if model is None else f"{type(model).__name__} {attribute}"
        raise _NotUsable(source, f"{attribute!r} is not a Pydantic model (found {found})")
    return _of_model(model, attribute, source)


def _of_file(path: Path, source: str) -> OutputSchema:
    try:
        text = path.read_text()
    except OSError as exc:
        raise _NotUsable(
            source,
            f"cannot read it ({exc.strerror or exc}); expected a JSON Schema file "
            "(.json) or a Pydantic model (module:Model)",
        ) from exc
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise _NotUsable(source, f"not JSON ({exc})") from exc
    if not isinstance(schema, dict):
        raise _NotUsable(source, f"not a JSON Schema (a JSON object), found {type(schema).__name__}")
    return _checked(schema, source, path.stem)


def _of_model(model: type[pydantic.BaseModel], name: str, source: str) -> OutputSchema:
    try:
        schema = to_strict_json_schema(model)
    except Exception as exc:  # a model pydantic cannot describe in JSON Schema
        raise _NotUsable(source, f"no JSON Schema for this model ({exc})") from exc
    return _checked(schema, source, name)


def _checked(schema: dict[str, Any], source: str, fallback_name: str) -> OutputSchema:
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "the root"
        raise _NotUsable(source, f"not a valid JSON Schema (at {where}: {exc.message})") from exc
    problem = strict_problem(schema)
    if problem is not None:
        raise _NotUsable(source, f"strict structured outputs do not take this schema: {problem}")
    title = schema.get("title")
    name = (
        _NAME_PART.sub("_", title if isinstance(title, str) and title else fallback_name)[:64] or "response"
    )
    return OutputSchema(name, schema, source)
