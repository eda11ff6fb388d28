"""A package's names, imported when first asked for rather than with the package.

`rowrelay.tasks.llm` and `rowrelay.tasks.run` name what their modules define, and importing any module
of theirs runs their `__init__` first. Eager, that pulled in the OpenAI SDK (about a second here) for a
command that only needed the settings or the endpoints file, such as `rowrelay run` refusing a bad
option. Type checkers still see every name: the packages import them under `TYPE_CHECKING` too.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def exports(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module `__getattr__` and `__dir__` for `package`: each name in `where` comes from the submodule
    it maps to, and is listed (tab completion in a notebook) before it is first used."""

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
