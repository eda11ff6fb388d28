"""What a batch's input is made of: the spec saying how to build prompts, and the prepared rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from rowrelay.tasks.dataset.templates import template_fields
from rowrelay.tasks.errors import UsageError

__all__ = ["InputSpec", "PreparedInput", "PreparedRow"]


@dataclass(frozen=True)
class InputSpec:
    """How to turn each input row into a prompt, and how to name it.

    Give exactly one of `template` (``str.format``-style over column names, e.g.
    ``"Triage this ticket: {subject}\\n{body}"``) or `prompt_column` (a column holding the whole
    prompt). `id_column` supplies stable row keys; without it a row's key is a hash of its input.
    `instructions` are plain system-level text sent with every row (not a template). The spec is
    checked on construction, so a bad one is refused before any input is even read.

        >>> InputSpec(template="Subject: {subject}", id_column="ticket_id")
    """

    template: str | None = None
    prompt_column: str | None = None
    id_column: str | None = None
    instructions: str | None = None

    def __post_init__(self) -> None:
        if (self.template is None) == (self.prompt_column is None):
            raise UsageError(
                "give exactly one of a template or a prompt column "
                f"(got template={self.template!r}, prompt_column={self.prompt_column!r})"
            )
        if self.template is not None:
            template_fields(self.template)


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
    """A validated batch: the input as read, its rows in input order, and the batch's identity.

    `rows` holds every input row, including bad ones. `bad_rows` maps the key of each row that must not
    be sent (its prompt is blank) to the reason, so the runner records it failed without a request:
    a bad row fails alone, the batch goes on. `frame` is not copied; treat it as read-only.
    """

    frame: pd.DataFrame
    rows: list[PreparedRow]
    fingerprint: str
    bad_rows: Mapping[str, str] = field(default_factory=dict)
    instructions: str | None = None

    @property
    def sendable_rows(self) -> list[PreparedRow]:
        """The rows that may be sent: every row not in `bad_rows`, in input order."""
        if not self.bad_rows:
            return list(self.rows)
        return [row for row in self.rows if row.row_key not in self.bad_rows]
