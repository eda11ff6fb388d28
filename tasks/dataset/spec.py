"""What a batch's input is made of: the prepared rows (the spec saying how to build prompts is
`input_spec`'s, and imported from here too)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rowrelay.tasks.dataset.input_spec import InputSpec
from rowrelay.tasks.dataset.media import RowMedia
from rowrelay.tasks.dataset.prompts import KeyedMedia, KeyedPrompts, Prompts, SortedKeys
from rowrelay.tasks.dataset.readings import READING
from rowrelay.tasks.media_refs import Attachment

__all__ = ["InputSpec", "PreparedInput", "PreparedRow"]


@dataclass(frozen=True, slots=True)
class PreparedRow:
    """One row ready to send: its stable key, position in the input, prompt and input hash.

    `input_hash` covers the prompt and the instructions (nothing model-specific), so a resumed run can
    tell that a row's input changed under the same key.
    """

    row_key: str
    row_index: int
    prompt: str
    input_hash: str


@dataclass(frozen=True)
class PreparedInput:
    """A validated batch: the input as read, its rows' keys and hashes in input order, and its identity.

    `keys` and `hashes` hold every input row, bad ones included, as Arrow columns (no Python object per
    row: a million rows stay small); `prompts` renders a row's prompt when asked. `bad_rows` maps the key
    of each row that must not be sent (its prompt is blank) to the reason, so the runner records it
    failed without a request: a bad row fails alone, the batch goes on. `frame` is not copied; treat it
    as read-only.
    """

    frame: pd.DataFrame
    keys: pa.Array[Any]
    hashes: pa.Array[Any]
    prompts: Prompts
    fingerprint: str
    bad_rows: Mapping[str, str] = field(default_factory=dict)
    instructions: str | None = None
    gaps: Mapping[str, pa.Array[Any]] = field(default_factory=dict)
    """Per column the template names, the keys of the rows sent with it empty, in input order: a template
    with text of its own is sent whatever its columns hold (a column may be optional), and the plan says
    how many of the rows a run sends are among them (`run.plan`)."""
    reading: int = READING
    """How the input file was read (`reading.READING`, or an earlier release's for a batch it planned)."""
    media: tuple[RowMedia, ...] = ()
    """Each row's images and files (`--image-column`, `--file-column`); none when it sends text alone."""

    def __len__(self) -> int:
        return len(self.keys)

    def planned(self) -> pa.Table:
        """(row_key, row_index, input_hash) of every row, in input order: what the state table plans."""
        indexes = pa.array(np.arange(len(self.keys), dtype=np.int64))
        return pa.table({"row_key": self.keys, "row_index": indexes, "input_hash": self.hashes})

    @cached_property
    def prompt(self) -> Callable[[str], str]:
        """A row's prompt by its key, rendered when asked (what a run's driver sends)."""
        return KeyedPrompts(self.prompts, self._index)

    @cached_property
    def _index(self) -> SortedKeys:
        return SortedKeys(self.keys)

    @cached_property
    def attachments(self) -> Callable[[str], tuple[Attachment, ...]] | None:
        """A row's images and files by its key (URLs, file ids, absolute paths), or None for a batch
        that sends text alone."""
        return KeyedMedia(self.media, self._index) if self.media else None

    @property
    def rows(self) -> list[PreparedRow]:
        """Every row with its prompt, as objects: handy on small inputs; planning and sending use the
        columns (`planned`, `prompt`), which cost no Python object per row."""
        keys: list[Any] = self.keys.to_pylist()
        hashes: list[Any] = self.hashes.to_pylist()
        prompts = [prompt for chunk in self.prompts.chunks() for prompt in chunk]
        return list(map(PreparedRow, keys, range(len(keys)), prompts, hashes))

    @property
    def sendable_rows(self) -> list[PreparedRow]:
        """The rows that may be sent: every row not in `bad_rows`, in input order."""
        return [row for row in self.rows if row.row_key not in self.bad_rows]
