"""A text output's values (JSONL, CSV) as JSON can hold them, at any depth.

pandas reads a Parquet list as a NumPy array (of `datetime64` for timestamps, `NaT` for a null among
them), and a DataFrame built in Python may hold an integer past 64 bits. orjson serialises NumPy arrays
itself and stopped on either (`unrepresentable numpy.datetime64`, `Integer exceeds 64-bit range`): after
every row was paid for, the output could not be written at all. JSON has no infinity either: inside a
list, orjson wrote null (the mark of a missing value) and `json` the invalid `Infinity`. So every nested
value is made plain first, the way the top-level columns already are: a null stays null, an infinite
float is "inf" or "-inf", a duration is pandas' text (`1 days 00:00:00`, as a top-level one is written),
bytes are base64 text, and an integer too long for orjson is written through `exact_int`.

A NumPy array of finite numbers (an embedding: thousands of float32 per row) is left as it is: orjson
writes it natively, each float32 in its own width (0.1, not 0.10000000149011612), about 7x faster and
half the bytes of a walk through Python values; only what needs it (an infinity, a NaT, a duration,
bytes, objects) is walked element by element.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from rowrelay.tasks.dataset.templates import BYTES

__all__ = ["as_base64", "plain", "plain_float"]

_INT64_MIN, _UINT64_END = -(2**63), 2**64
"""orjson writes the integers from int64's least to uint64's greatest, and refuses any other."""

_WRITTEN_NATIVELY = frozenset(
    np.dtype(kind)
    for kind in (
        *("bool", "float16", "float32", "float64"),
        *("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
    )
)
"""The NumPy types orjson writes itself (in this machine's byte order): any other array (a long double,
a complex, a big-endian one) it hands to the writer's default, which would write its repr as text."""


def as_base64(value: bytes | bytearray | memoryview) -> str:
    """Bytes as text any tool decodes: base64, standard alphabet, padded (Python's repr, `b'\\x89PNG…'`,
    was written before)."""
    return base64.b64encode(value).decode("ascii")


def plain_float(value: float) -> float | str | None:
    """A float as the text outputs write it: NaN (a missing number) as null, an infinity as "inf" or
    "-inf", as CSV and prompts show a top-level one."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def plain(value: object, exact_int: Callable[[int], object] = int) -> object:
    """`value` with its nested NumPy arrays and scalars, nulls, floats, durations and bytes as the text
    outputs write them (the module docstring says how); `exact_int` takes an integer past 64 bits (JSONL
    writes its digits as they are). Anything else (a date, a decimal) is left to the writer."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.generic) and _written_natively(value):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return plain_float(float(value))
    if isinstance(value, int | np.integer):
        number = int(value)
        return number if _INT64_MIN <= number < _UINT64_END else exact_int(number)
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value)
    if isinstance(value, np.timedelta64):
        return None if np.isnat(value) else str(pd.Timedelta(value))
    if isinstance(value, timedelta):
        return str(pd.Timedelta(value))
    if isinstance(value, BYTES):
        return as_base64(value)
    if isinstance(value, dict):
        return {key: plain(item, exact_int) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        if value.flags.c_contiguous and _written_natively(value):  # orjson takes C-ordered arrays only
            return value
        # Items stay NumPy's where orjson takes them (a float32 keeps its width) and for times, whose
        # tolist() gives nanoseconds as integers; others become Python's.
        native = value.dtype in _WRITTEN_NATIVELY or value.dtype.kind in "mMO"
        items = value if native else value.tolist()
        return [plain(item, exact_int) for item in items]
    if isinstance(value, list | tuple):
        return [plain(item, exact_int) for item in value]
    return value


def _written_natively(value: np.ndarray[Any, Any] | np.generic) -> bool:
    """Whether orjson writes `value` as the text outputs want it as it is: a number type it takes, and
    no NaN or infinity, which it would write as null."""
    if value.dtype not in _WRITTEN_NATIVELY:
        return False
    return value.dtype.kind != "f" or bool(np.isfinite(value).all())
