"""An invalid setting said in one line, in the words of where it was given: `--rpm: must be at least 1 (got
-5)` for a command line option, `ROWRELAY_RPM: ...` or the alias that was set (`OPENAI_BASE_URL: ...`) for
an environment variable, and never the value of a secret.

    raise UsageError(first_problem(exc, given, Settings.model_fields, os.environ)) from None

Apart from `settings`, which declares the options and validates them once for every entry point:
translating pydantic's errors into the command line's words is a concern of its own, and pure. It is
handed the settings' fields and the environment, so reading the environment stays in `settings`.

From Python the same problem names the parameter (`rpm: must be at least 1 (got -5)`, `output_schema
'x.json': ...`), where it named a command line option the caller never saw (`--rpm`). Whose words a
problem is said in is a context variable (`words_of`): `run_batch` sets it for a call from Python
(flows/batch.py), and `open_session` for its own build when no one has (a direct call); unset, they are
the command line's, as for every command.

Every message that names an option asks here how to say it, never `if python:` of its own: the option
(`option_of`), with its value (`given_as`), a value to give it as advice (`one_of`: `--backend openai`,
from Python `backend='openai'`), a flag (`switch_of`: `--resend-edited`, `resend_edited=True`), and what
runs the batch again (`same_run`: the same command, or call). A line logged on a Dask worker, where no one
has set whose words, says the options.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, Literal, ParamSpec, TypeVar

from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from rowrelay.tasks.urls import CREDENTIALS_IN_URL

__all__ = [
    "Caller",
    "first_problem",
    "given_as",
    "misspelt_variable",
    "one_of",
    "option_of",
    "python_words",
    "said_as",
    "same_run",
    "switch_of",
    "words_of",
]

P = ParamSpec("P")
R = TypeVar("R")

Caller = Literal["cli", "python"]
"""Whose words a problem is said in: the command line's options, or Python's parameters."""

_WORDS: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("rowrelay_words", default=None)


@contextlib.contextmanager
def words_of(caller: Caller, *, unless_set: bool = False) -> Iterator[None]:
    """Within the block, problems name options as `caller` gave them: `--rpm` for the command line, `rpm`
    for Python. `unless_set`: only if no caller has said whose they are (`open_session`, called both by a
    run's flow and directly)."""
    if unless_set and _WORDS.get() is not None:
        yield
        return
    token = _WORDS.set(caller)
    try:
        yield
    finally:
        _WORDS.reset(token)


def python_words(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, whose problems name Python's parameters unless its caller said whose words they are: an entry
    point of the Python API that a run's flow calls too (`open_session`)."""

    @functools.wraps(fn)
    def in_python_words(*args: P.args, **kwargs: P.kwargs) -> R:
        with words_of("python", unless_set=True):
            return fn(*args, **kwargs)

    return in_python_words


def option_of(name: str, option: str | None = None) -> str:
    """The option or parameter `name` as its caller gives it (`words_of`): `--rpm` (`option` where the
    option's name is not the parameter's: `--schema` for `output_schema`), or from Python `rpm`."""
    if _WORDS.get() == "python":
        return name
    return option or f"--{name.replace('_', '-')}"


def given_as(name: str, value: str, option: str | None = None) -> str:
    """The option `name` with the value it was given (`value`, as it is to be said), as its caller gives
    it: `--template '{x}'` on the command line, `template='{x}'` from Python."""
    if _WORDS.get() == "python":
        return f"{name}={value}"
    return f"{option_of(name, option)} {value}"


def one_of(name: str, values: Sequence[str], option: str | None = None) -> str:
    """The option `name` given any of `values`, as advice in its caller's words: `--backend openai, azure
    or chat` on the command line, `backend='openai', 'azure' or 'chat'` from Python, where a bare word is
    no value."""
    said = [repr(value) for value in values] if _WORDS.get() == "python" else list(values)
    either = ", ".join(said[:-1]) + " or " + said[-1] if len(said) > 1 else said[0]
    return f"{name}={either}" if _WORDS.get() == "python" else f"{option_of(name, option)} {either}"


def switch_of(name: str) -> str:
    """The flag `name` turned on, as its caller turns it on: `--resend-edited` on the command line,
    `resend_edited=True` from Python."""
    return f"{name}=True" if _WORDS.get() == "python" else option_of(name)


def same_run() -> str:
    """What runs the batch again as it was run: `the same command` on the command line, from Python `the
    same call` (a notebook user typed no command)."""
    return "the same call" if _WORDS.get() == "python" else "the same command"


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


_MEANT = {"ROWRELAY_SCHEMA": "ROWRELAY_OUTPUT_SCHEMA"}
"""Variables named after an option whose setting is named otherwise (`--schema` sets `output_schema`)."""


def misspelt_variable(
    known: Collection[str], environ: Mapping[str, str], *, keys: Collection[str] = ()
) -> str | None:
    """The first `ROWRELAY_*` variable set that names nothing rowrelay reads but is a letter or two off
    one of the `known` variables it does (`ROWRELAY_RMP` for `ROWRELAY_RPM`), as one line; else None.

    Such a variable was ignored: a run went on at 500 creates a minute under `ROWRELAY_RMP=10`, or with no
    spending cap under `ROWRELAY_MAXCOST=5`, saying nothing. Only near misses are refused: a variable far
    from every name (`ROWRELAY_EAST_KEY`, a key an endpoints file names) is someone's own. So is one near
    only a key's variable (`keys`): an endpoints file's second key is as likely as not named
    `ROWRELAY_API_KEY_2`, and a key's own name misspelt needs no refusal, the run finding no key refuses
    itself. Names alone are said, never a value (the variable may hold a key)."""
    names = {name.upper() for name in known}
    targets = names - {name.upper() for name in keys}
    for variable in sorted(environ):
        upper = variable.upper()  # read whatever its case, as pydantic-settings reads them
        if not upper.startswith("ROWRELAY_") or upper in names:
            continue
        near = _MEANT.get(upper) or next((name for name in sorted(targets) if _near(upper, name)), None)
        if near is not None:
            return f"{variable}: no such setting (did you mean {near}?); rename the variable, or unset it"
    return None


def _near(given: str, name: str) -> bool:
    """Whether `given` is one edit from `name` (an adjacent swap counts as one), or two for names past
    the prefix longer than five letters, where two slips are as likely as one in a short name."""
    a, b = given.removeprefix("ROWRELAY_"), name.removeprefix("ROWRELAY_")
    bound = 1 if min(len(a), len(b)) <= 5 else 2
    if abs(len(a) - len(b)) > bound:
        return False
    # optimal string alignment distance: Levenshtein's, with a swap of adjacent letters as one edit
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1] <= bound


def said_as(name: str, given: Mapping[str, object], option: str | None = None) -> str:
    """How the setting `name` was given, as a problem with it names it: its option when given explicitly
    (`--rpm`; `option` where the option's name is not the setting's: `--schema` for `output_schema`; from
    Python its parameter, `rpm`: `option_of`), else its environment variable (`ROWRELAY_RPM`)."""
    if name in given:
        return option_of(name, option)
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
