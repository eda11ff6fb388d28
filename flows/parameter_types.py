"""The types of a run's own parameters (`BatchRequest.build`'s, beside the settings `load_settings` checks),
and the few values of them no run can take, refused in one line naming the parameter before anything is
built from them.

Only Python can give a value of the wrong type (the CLI hands every option over as text), and each one
used to get past the request: `template=123` was Python's bare `TypeError: expected str, got int`,
`instructions=5` an `AttributeError` from the run, `agent=make_agent` a failed flow run with Prefect's
tracebacks, and `id_column=0` (an int-named column) a batch whose `run.json` rowrelay itself then read as
damaged. Columns are named by their string names: an int-named DataFrame column `0` is `"0"`
(`tasks/dataset/given_frame.py` names every column by a string).

    refuse_wrong_types({"id_column": 0})   # UsageError: id_column: must be a column's name as a string ...

The values: a row count below 1 (`row_count`, `limit`), and a path whose name is not UTF-8 text
(`refuse_names_not_utf8`), which the batch's records cannot hold.
"""

from __future__ import annotations

import inspect
import operator
import os
from collections.abc import Mapping
from pathlib import Path
from typing import SupportsIndex

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.setting_problems import given_as, option_of

__all__ = ["refuse_names_not_utf8", "refuse_wrong_types", "row_count"]

_COLUMNS = ("prompt_column", "id_column", "image_column", "file_column")
_TEXTS = {
    "template": "the prompt's template, a string (e.g. '{subject}')",
    "instructions": "text (a string)",
    "fail_when_failed": "a string: a row count 'N' or a share of the rows 'P%' (e.g. '5' or '2.5%')",
    "dask": "a Dask scheduler's address, a string (e.g. 'tcp://10.0.0.5:8786')",
}
_PATHS = ("state", "output")


def refuse_wrong_types(given: Mapping[str, object]) -> None:
    """`UsageError` for the first of `given` (parameter name → value; None is "not given") whose type
    the run cannot take, naming the parameter, the type it takes and what it got."""
    for name, value in given.items():
        if value is None:
            continue
        problem = _problem(name, value)
        if problem is not None:
            raise UsageError(f"{name}: {problem} (got {_shown(value)})")


def _problem(name: str, value: object) -> str | None:
    if name in _COLUMNS and not isinstance(value, str):
        # A number is the likely slip: a frame read with `header=None` has columns 0, 1, ...
        number = isinstance(value, int | float) and not isinstance(value, bool)
        hint = f"; a column named {value!r} is given as {str(value)!r}" if number else ""
        return f"must be one column's name, a string{hint}"
    if name in _TEXTS and not isinstance(value, str):
        return f"must be {_TEXTS[name]}"
    if name in _PATHS and not isinstance(value, str | Path):
        return "must be a path (a string or a pathlib.Path)"
    if name == "agent" and not isinstance(value, str):
        return _agent_problem(value)
    if name == "dask_workers" and not _whole_number(value):
        return "must be a whole number of worker processes"
    return None


def _agent_problem(value: object) -> str:
    """Why `agent=` takes a factory's name, never the factory or an agent: every process that runs rows
    builds its own agent on its own client (a Dask worker, a deployment's worker), and finds the factory
    by importing it by name; a function defined in a notebook or a script (`__main__`) has no name another
    process can import, and an `Agent` is bound to a client rowrelay did not make."""
    named = "'module:function', the name (a string) of a factory (client) -> Agent that a run imports"
    module = getattr(value, "__module__", None)
    if inspect.isfunction(value) and module != "__main__" and value.__qualname__.isidentifier():
        return f"must be {named}: give agent={f'{module}:{value.__qualname__}'!r}"
    return f"must be {named}, from a module of yours (a notebook's or a script's has no importable name)"


def _whole_number(value: object) -> bool:
    """An int, or a NumPy integer from a notebook (both have `__index__`); not a bool, not a float."""
    return isinstance(value, SupportsIndex) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """The value's type, and the value when it is plain data and short: a function, an agent or a
    DataFrame is named by its type (and a function by its name), never by its repr."""
    kind = type(value).__name__
    if inspect.isfunction(value):
        return f"{kind} {value.__qualname__}"
    shown = repr(value)
    plain = isinstance(value, int | float | str | bytes | list | tuple | dict)
    return f"{kind} {shown}" if plain and len(shown) <= 60 else kind


def row_count(name: str, value: object) -> int | None:
    """A whole number of rows, at least 1 (a NumPy integer from a notebook too), else `UsageError` naming
    the option `name` as its caller gave it (`--limit`, from Python `limit`)."""
    if value is None:
        return None
    try:
        count = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        count = 0
    if isinstance(value, bool) or count < 1:
        raise UsageError(f"{option_of(name)}: must be a whole number of rows, at least 1 (got {value!r})")
    return count


def refuse_names_not_utf8(paths: dict[str, object]) -> None:
    """A path whose name is not UTF-8 text (a file unzipped from a Windows archive: `caf\\xe9.csv`) is
    refused in one line: the batch's records (its run.json, its note in the home, Prefect's flow run)
    are UTF-8 JSON and cannot hold it, and the run ended in a `UnicodeEncodeError` traceback, exit 1."""
    for named, value in paths.items():
        if not isinstance(value, str | Path):
            continue
        text = str(value)
        try:
            text.encode()
        except UnicodeEncodeError:
            try:  # the bytes the file system holds, as the name was read (surrogate escapes)
                shown = os.fsencode(text).decode(errors="backslashreplace")
            except UnicodeEncodeError:  # not a name from the file system: a lone surrogate from Python
                shown = text.encode(errors="backslashreplace").decode()
            where = f"input {shown}" if named == "input" else given_as(named, shown)  # `state=...`
            raise UsageError(
                f"{where}: its name is not UTF-8 text, which the batch's records (its run.json, "
                "Prefect's flow run) cannot hold: rename it, or its folder, in UTF-8"
            ) from None
