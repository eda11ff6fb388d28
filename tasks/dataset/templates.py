"""Prompt templates: `str.format`-style text over column names, checked before anything is sent.

A template such as ``"Subject: {subject}\\n\\n{body}"`` names columns of the input; what a template may
say is checked by `template_syntax`.
A missing value (None, NaN, NA) renders as the empty string, nested data (a JSON object or array, a
Parquet struct or list) as JSON text.

    >>> render_template("Subject: {subject}", {"subject": "Refund"})
    'Subject: Refund'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rowrelay.tasks.dataset.template_syntax import parse, template_fields
from rowrelay.tasks.errors import UsageError


def _is_missing(value: object) -> bool:
    return (
        value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    )


def cell_text(value: object) -> str:
    """A cell as prompt text: missing values become "", strings stay as they are, nested data (a JSON
    object or array, a Parquet struct or list) becomes JSON text, others go through str."""
    if isinstance(value, str):
        return value
    if _is_missing(value):
        return ""
    if isinstance(value, dict | list | tuple | np.ndarray):
        # str() gave Python's or NumPy's repr ({'name': 'Ann'}, ['a' 'b']): JSON is what the data was
        # and what a model reads as data.
        return json.dumps(_jsonable(value), ensure_ascii=False, default=str)
    return str(value)


def _jsonable(value: object) -> object:
    """Nested data as what `json` writes: NumPy arrays and scalars (Parquet lists) as Python's, a missing
    number (NaN, which `json` would write as the non-JSON `NaN`) as null."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def render_template(template: str, row: Mapping[Any, object]) -> str:
    """Render one row (column name → value, e.g. from ``frame.to_dict("records")``).

    Gives the same text `prepare` produces for that row in bulk.
    """
    template_fields(template)
    out: list[str] = []
    for literal, name in parse(template):
        out.append(literal)
        if name is not None:
            if name not in row:
                available = ", ".join(sorted(map(str, row)))
                raise UsageError(f"template field {{{name}}} is not in the row (available: {available})")
            out.append(cell_text(row[name]))
    return "".join(out)


def column_text(series: pd.Series) -> pd.Series:
    """A whole column as prompt text, vectorized; agrees with `cell_text` cell by cell."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("")
    if series.dtype == object:  # mixed or nested values: cell by cell, as astype(str) was anyway
        return series.map(cell_text).astype("str")
    # pandas >= 3 keeps missing values missing through astype(str); fillna then makes them "".
    return series.astype(str).fillna("")


def render_column(frame: pd.DataFrame, template: str) -> pd.Series:
    """Render every row of `frame` with a few whole-column concatenations (no per-row Python)."""
    missing = [name for name in template_fields(template) if name not in frame.columns]
    if missing:
        available = ", ".join(map(str, frame.columns))
        raise UsageError(
            f"template names column(s) not in the input: {', '.join(missing)} (available: {available})"
        )
    texts = {name: column_text(frame[name]) for name in template_fields(template)}
    result = pd.Series([""] * len(frame), index=frame.index, dtype="str")
    for literal, name in parse(template):
        if literal:
            result = result + literal
        if name is not None:
            result = result + texts[name]
    return result
