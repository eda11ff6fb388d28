"""How each input row becomes a prompt: the spec a run is given, checked with the standard library alone
(a refused option should not wait for pandas to import)."""

from __future__ import annotations

from dataclasses import dataclass

from rowrelay.tasks.dataset.template_syntax import template_fields
from rowrelay.tasks.errors import UsageError

__all__ = ["InputSpec"]


@dataclass(frozen=True)
class InputSpec:
    """How to turn each input row into a prompt, and how to name it.

    Give exactly one of `template` (``str.format``-style over column names, e.g.
    ``"Triage this ticket: {subject}\\n{body}"``) or `prompt_column` (a column holding the whole
    prompt). `id_column` supplies stable row keys; without it a row's key is a hash of its input.
    `instructions` are plain system-level text sent with every row (not a template). `image_column`
    names a column of images sent with each row's prompt (`images`). The spec is checked on
    construction, so a bad one is refused before any input is even read.

        >>> InputSpec(template="Subject: {subject}", id_column="ticket_id")
    """

    template: str | None = None
    prompt_column: str | None = None
    id_column: str | None = None
    instructions: str | None = None
    image_column: str | None = None

    def __post_init__(self) -> None:
        if self.template is None and self.prompt_column is None:
            raise UsageError(
                "no prompt: give a template (the prompt, with {column} fields filled from each row) "
                "or a prompt column (a column holding each row's whole prompt)"
            )
        if self.template is not None and self.prompt_column is not None:
            raise UsageError(
                f"both a template ({self.template!r}) and a prompt column ({self.prompt_column!r}) "
                "were given: give one"
            )
        if self.template is not None:
            template_fields(self.template, same_for_every_row=self.image_column is not None)
