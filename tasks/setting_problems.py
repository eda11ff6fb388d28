"""An invalid setting said in one line, in the words of where it was given: `--rpm: must be at least 1 (got
-5)` for a command line option, `ROWRELAY_RPM: ...` or the alias that was set (`OPENAI_BASE_URL: ...`) for
an environment variable, and never the value of a secret.

    raise UsageError(first_problem(exc, given, Settings.model_fields, os.environ)) from None

Apart from `settings`, which declares the options and validates them once for every entry point:
translating pydantic's errors into the command line's words is a concern of its own, and pure. It is
handed the settings' fields and the environment, so reading the environment stays in `settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from rowrelay.tasks.urls import CREDENTIALS_IN_URL

__all__ = ["first_problem", "said_as"]


def first_problem(
    exc: ValidationError,
    given: Mapping[str, object],
    fields: Mapping[str, FieldInfo],
    environ: Mapping[str, str],
) -> str:
    """The first invalid setting, those given explicitly first, as one line: `given` are the explicit
    overrides, `fields` the settings' fields and `environ` the environment they were read from."""
    problems = sorted(exc.errors(), key=lambda problem: _field(problem) not in given)
    problem = problems[0]
    name = _field(problem)
    if name.isupper() and name not in given:  # read through an alias: the variable that was set
        where = next((alias for alias in _aliases_of(name, fields) if alias in environ), name)
    else:
        where = said_as(name, given)
    secret = _is_secret(fields.get(name)) or problem["type"] == CREDENTIALS_IN_URL
    # A validator's own words say what was wrong; the value may be a whole JSON document (tools).
    value = "" if secret or problem["type"] == "value_error" else f" (got {problem.get('input')!r})"
    return f"{where}: {_said(problem)}{value}"


def said_as(name: str, given: Mapping[str, object], option: str | None = None) -> str:
    """How the setting `name` was given, as a problem with it names it: its option when given explicitly
    (`--rpm`; `option` where the option's name is not the setting's: `--schema` for `output_schema`),
    else its environment variable (`ROWRELAY_RPM`)."""
    if name in given:
        return option or f"--{name.replace('_', '-')}"
    return f"ROWRELAY_{name.upper()}"


def _is_secret(field: FieldInfo | None) -> bool:
    """Whether a field's value is one an error message must never repeat."""
    return field is not None and "SecretStr" in str(field.annotation)


def _aliases_of(alias: str, fields: Mapping[str, FieldInfo]) -> list[str]:
    """Every variable naming the same setting as `alias`, in the order they are read."""
    for field in fields.values():
        choices = field.validation_alias
        if isinstance(choices, AliasChoices) and alias in choices.choices:
            return [str(choice) for choice in choices.choices]
    return [alias]


def _field(problem: ErrorDetails) -> str:
    return str(problem["loc"][0]) if problem["loc"] else "settings"


def _said(problem: ErrorDetails) -> str:
    """What pydantic found wrong, in the words of the command line."""
    context: dict[str, Any] = dict(problem.get("ctx") or {})
    kind = problem["type"]
    if kind == "greater_than_equal":
        return f"must be at least {context['ge']:g}"  # 0, not the 0.0 of a float field
    if kind == "greater_than":
        return f"must be more than {context['gt']}"
    if kind == "less_than_equal":
        return f"must be at most {context['le']:g}"
    if kind == "literal_error":
        return f"must be {context['expected']}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "must be a whole number"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind == "value_error":  # our own validators' words, without pydantic's "Value error, "
        return str(context["error"])
    message = problem["msg"]
    return message[:1].lower() + message[1:]
