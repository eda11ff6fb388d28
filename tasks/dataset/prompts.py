"""Every row's prompt, rendered when asked for: a few chunks at a time for hashing, one row when it is sent.

A million rendered prompts held as Python strings cost about as much memory as the input itself, and
most of them are only needed for a moment (hashed at planning, sent once), so `Prompts` keeps the
template's parts and the cells it uses as Arrow text columns, and renders from them. Chunks and single
rows come from the same cells and literals, so the text sent is the text that was hashed.

    prompts = Prompts.build(frame, spec, keys)
    for chunk in prompts.chunks(65_536): ...      # lists of prompts, in input order
    prompts.at(41), prompts("T-00042")           # one row, by position or by key
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.dataset.readings import ARROW_NESTED_AS_JSON, BOOLS_AS_JSON, READING, SHOWN_AS_DATA
from rowrelay.tasks.dataset.templates import bytes_shown, column_text
from rowrelay.tasks.errors import UsageError

if TYPE_CHECKING:
    from rowrelay.tasks.dataset.input_spec import InputSpec
    from rowrelay.tasks.dataset.media import RowMedia
    from rowrelay.tasks.media_refs import Attachment

__all__ = ["KeyedMedia", "KeyedPrompts", "Prompts", "SortedKeys"]

CHUNK = 65_536
"""Rows rendered at once for hashing: a few tens of MB of text at most for typical prompts."""


def _absent(spec: InputSpec, frame: pd.DataFrame, names: list[str]) -> UsageError | None:
    absent = [name for name in names if name not in frame.columns]
    if not absent:
        return None
    available = ", ".join(map(str, frame.columns))
    if spec.template is not None:
        return UsageError(
            f"template names column(s) not in the input: {', '.join(absent)} (available: {available})"
        )
    return UsageError(f"prompt column {absent[0]!r} is not in the input (available: {available})")


def _text(series: pd.Series, reading: int) -> pa.ChunkedArray[Any]:
    """A column as Arrow text, as `column_text` gives it (bytes as `bytes_shown` from reading 4, nested
    Arrow values as JSON from reading 5, booleans as `true` from reading 7); a text
    column's own buffers when it has them."""
    series = bytes_shown(series) if reading >= SHOWN_AS_DATA else series
    as_json = reading >= ARROW_NESTED_AS_JSON
    text: Any = pa.array(
        column_text(series, as_json, reading >= BOOLS_AS_JSON)
        if not isinstance(series.dtype, pd.StringDtype)
        else series
    )
    text = pa.chunked_array([text]) if isinstance(text, pa.Array) else text  # zero-copy for Arrow strings
    return pc.fill_null(text, pa.scalar("", text.type)) if text.null_count else text


def _empty(column: pa.ChunkedArray[Any]) -> npt.NDArray[np.bool_]:
    # Tests, not a trimmed copy: a copy of a long text column would add to the plan's peak memory.
    blank = pc.or_(pc.equal(pc.binary_length(column), pa.scalar(0)), pc.utf8_is_space(column))
    return np.asarray(blank, dtype=bool)


class SortedKeys:
    """The keys in sorted order, as a sequence `bisect` can search (an index, not a dict of 1M strings).

    Arrow sorts UTF-8 bytes and Python compares code points: the same order, so the search agrees.
    """

    def __init__(self, keys: pa.Array[Any]) -> None:
        self.order = pc.sort_indices(keys)
        self.sorted = keys.take(self.order)

    def __len__(self) -> int:
        return len(self.sorted)

    def __getitem__(self, i: int) -> str:
        value: str = self.sorted[i].as_py()
        return value

    def position(self, key: str) -> int:
        i = bisect.bisect_left(self, key)
        if i == len(self) or self[i] != key:
            raise KeyError(key)
        position: int = self.order[i].as_py()
        return position


@dataclass(frozen=True)
class Prompts:
    """A template's literal parts and the text columns filling it (a prompt column is a bare template)."""

    parts: tuple[tuple[str, str | None], ...]
    """(literal, column name or None) pairs, as `templates.template_parts` gives them."""
    columns: dict[str, pa.ChunkedArray[Any]]
    rows: int

    @classmethod
    def build(cls, frame: pd.DataFrame, spec: InputSpec, reading: int = READING) -> Prompts:
        """The prompts of `frame` under `spec`, shown as `reading` shows values; `UsageError` if a
        column they need is absent."""
        parts = tuple(spec.parts())
        names = list(dict.fromkeys(name for _, name in parts if name is not None))
        problem = _absent(spec, frame, names)
        if problem is not None:
            raise problem
        columns = {name: _text(frame[name], reading) for name in names}
        return cls(parts, columns, len(frame))

    def empty(self) -> dict[str, npt.NDArray[np.bool_]]:
        """Per column the prompts use, whether each row's value is empty (missing, or only whitespace)."""
        return {name: _empty(column) for name, column in self.columns.items()}

    def _slice(self, start: int, stop: int) -> Any:
        pieces: list[Any] = []  # literal scalars and column slices: joined element-wise
        for literal, name in self.parts:
            if literal:
                pieces.append(pa.scalar(literal, pa.large_string()))
            if name is not None:
                pieces.append(self.columns[name].slice(start, stop - start).combine_chunks())
        if not self.columns:  # one question for every row's attachments: the template's text, repeated
            text = "".join(literal for literal, _ in self.parts)  # `{{` splits a literal in two
            return pa.array([text] * (stop - start), pa.large_string())
        if len(pieces) == 1:  # a bare column
            return pieces[0]
        return pc.call_function("binary_join_element_wise", [*pieces, pa.scalar("", pa.large_string())])

    def chunks(self, size: int | None = None) -> Iterator[list[str]]:
        """Every prompt, in input order, `size` rows (default `CHUNK`) at a time."""
        size = size or CHUNK
        for start in range(0, self.rows, size):
            prompts: list[str] = self._slice(start, min(start + size, self.rows)).to_pylist()
            yield prompts

    def at(self, position: int) -> str:
        """The prompt of the row at `position` (0-based, in input order)."""
        out: list[str] = []
        for literal, name in self.parts:
            out.append(literal)
            if name is not None:
                out.append(self.columns[name][position].as_py())
        return "".join(out)


class KeyedPrompts:
    """Prompts by row key (what a run's driver asks for when it sends a row), without a dict of every key."""

    def __init__(self, prompts: Prompts, index: SortedKeys) -> None:
        self._prompts = prompts
        self._index = index

    def __call__(self, key: str) -> str:
        return self._prompts.at(self._index.position(key))


class KeyedMedia:
    """A row's images and files by its key, found through the same index as its prompt."""

    def __init__(self, media: tuple[RowMedia, ...], index: SortedKeys) -> None:
        self._media = media
        self._index = index

    def __call__(self, key: str) -> tuple[Attachment, ...]:
        position = self._index.position(key)
        return tuple(item for column in self._media for item in column.at(position))
