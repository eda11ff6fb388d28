"""Which environment variable names which setting: a setting's own `ROWRELAY_*` name, or the names it is
read from in order (`ROWRELAY_BASE_URL`, then the SDK's `OPENAI_BASE_URL`), and the two `ROWRELAY_*`
variables read elsewhere. A message names the variable a setting was read from (`settings.variable_of`),
and a `ROWRELAY_*` variable a letter or two off one of them is refused as misspelt
(`setting_problems.misspelt_variable`, asked by `settings.load_settings`).

Pure, as `setting_problems` is: it is handed the settings' fields (`Settings.model_fields`: `settings`
imports this module, which so cannot import it) and the environment, so reading the environment stays
in `settings`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from rowrelay.tasks.console_filter import CONSOLE_LEVEL

__all__ = ["every_variable", "key_variables_of", "variable_named"]

_EMULATOR_KEY = "ROWRELAY_EMULATOR_API_KEY"
"""The emulator's key, read by its command line (`tasks.emulator.cli`), which imports nothing of ours."""


def variable_named(name: str, fields: Mapping[str, FieldInfo], environ: Mapping[str, str]) -> str:
    """The environment variable setting `name` was read from (the first of its names that is set in
    `environ`), to name it in a message; its first name when none is set."""
    choices = fields[name].validation_alias
    names = (
        [str(c) for c in choices.choices]
        if isinstance(choices, AliasChoices)
        else [f"ROWRELAY_{name.upper()}"]
    )
    return next((variable for variable in names if variable in environ), names[0])


def every_variable(fields: Mapping[str, FieldInfo]) -> list[str]:
    """Every `ROWRELAY_*` variable rowrelay reads: the settings' and two read elsewhere (the console's
    level, set by the command line for the processes it starts, and the emulator's key)."""
    names = [CONSOLE_LEVEL, _EMULATOR_KEY]
    for name, field in fields.items():
        choices = field.validation_alias
        names += [str(c) for c in choices.choices] if isinstance(choices, AliasChoices) else []
        names.append(f"ROWRELAY_{name.upper()}")
    return names


def key_variables_of(fields: Mapping[str, FieldInfo]) -> list[str]:
    """The `ROWRELAY_*` variables among `every_variable(fields)` that hold a key."""
    keys = [name for name, field in fields.items() if field.annotation == SecretStr | None]
    return [_EMULATOR_KEY, *(f"ROWRELAY_{name.upper()}" for name in keys)]
