"""What a prompt template may say: `str.format`-style text over column names, checked with the standard
library alone, so that a command refusing a bad template (or any bad option) does not import pandas.

Only plain named fields are allowed: positional fields (``{}``, ``{0}``), attribute or index access
(``{a.b}``, ``{a[0]}``), conversions (``{a!r}``) and format specs (``{a:>10}``) are refused, because
every value is inserted as text (CSV columns are read as strings, so ``{price:.2f}`` would fail row by
row) and because plain fields let a million rows be rendered with a few vectorized string
concatenations (`templates`).
"""

from __future__ import annotations

import string

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.setting_problems import given_as, option_of

_FORMATTER = string.Formatter()


def parse(template: str) -> list[tuple[str, str | None]]:
    """Split a template into (literal, field name or None) pairs, refusing anything but named fields."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise UsageError(
            f"malformed template: {exc} (write {{{{ and }}}} for literal braces): {template!r}"
        ) from exc
    parts: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None:
            _check_field(name, spec, conversion)
        parts.append((literal, name))
    return parts


_BRACES = "for braces in the prompt itself, write each twice"
_LITERAL = f"; {_BRACES}: {{{{ and }}}}"


def _check_field(name: str, spec: str | None, conversion: str | None) -> None:
    shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
    if name.startswith(('"', "'")):
        # A prompt showing the JSON it wants back (`like {"label": "x"}`): text, not a column.
        raise UsageError(
            f"template field {{{shown}}} is text in braces, not a column name (JSON?): {_BRACES}: "
            f"{{{{{shown}}}}}"
        )
    if name == "" or name.isdigit():
        raise UsageError(
            f"template field {{{name}}} is positional: name a column instead, e.g. {{subject}}" + _LITERAL
        )
    if "." in name or "[" in name:
        raise UsageError(
            f"template field {{{name}}} uses attribute or index access: name a column instead "
            "(column names containing '.' or '[' cannot be used in templates)" + _LITERAL
        )
    if conversion is None and name == "Unnamed" and (spec or "").strip().isdigit():
        # pandas' name for a CSV column whose header cell is empty: `{Unnamed}` names no column either.
        raise UsageError(
            f"template field {{{shown}}} is the name given a column whose header is empty, which a template "
            "cannot name (':' starts a format spec): give that column a header in the input, or write each "
            f"row's prompt in a column and pass {given_as('prompt_column', 'COLUMN')}"
        )
    if conversion is not None or spec:
        raise UsageError(
            f"template field {{{shown}}} has a conversion or format spec: these are not supported, "
            "values are inserted as text; write {" + name + "} (a column whose name holds ':' or '!' cannot "
            f"be named in a template: rename it in the input, or use {option_of('prompt_column')})" + _LITERAL
        )


def template_fields(template: str, *, same_for_every_row: bool = False) -> list[str]:
    """The column names a template uses, each once, in order of first appearance.

    Raises `UsageError` for a malformed template (unbalanced braces, positional fields, attribute or
    index access, conversions, format specs) or one that names no column at all (every row would get
    the same prompt, almost certainly a mistake), unless `same_for_every_row` says that is meant: rows
    told apart by their images may all be asked the same question.
    """
    names = [name for _, name in parse(template) if name is not None]
    if not names and not same_for_every_row:
        raise UsageError(
            f"template names no column, so every row would get the same prompt: {template!r} "
            "(use {column} to insert a column's value)"
        )
    return list(dict.fromkeys(names))


def template_parts(template: str, *, same_for_every_row: bool = False) -> list[tuple[str, str | None]]:
    """A checked template as (literal, column name or None) pairs, in order: what rendering walks."""
    template_fields(template, same_for_every_row=same_for_every_row)
    return parse(template)
