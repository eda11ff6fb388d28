"""How each input row becomes a prompt: the spec a run is given, checked with the standard library alone
(a refused option should not wait for pandas to import)."""

from __future__ import annotations

from dataclasses import dataclass

from rowrelay.tasks.dataset.template_syntax import template_parts
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.media_refs import MediaKind

__all__ = ["InputSpec"]


@dataclass(frozen=True)
class InputSpec:
    """How to turn each input row into a prompt, and how to name it.

    Give exactly one of `template` (``str.format``-style over column names, e.g.
    ``"Triage this ticket: {subject}\\n{body}"``) or `prompt_column` (a column holding the whole
    prompt). `id_column` supplies stable row keys; without it a row's key is a hash of its input.
    `instructions` are plain system-level text sent with every row (not a template). `image_column`
    and `file_column` name columns of images and files sent with each row's prompt (`media`). The spec
    is checked on construction, so a bad one is refused before any input is even read.

        >>> InputSpec(template="Subject: {subject}", id_column="ticket_id")
    """

    template: str | None = None
    prompt_column: str | None = None
    id_column: str | None = None
    instructions: str | None = None
    image_column: str | None = None
    file_column: str | None = None

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
        self.parts()  # a malformed template is refused here, before any input is read

    def parts(self) -> list[tuple[str, str | None]]:
        """The prompt as (literal, column name or None) pairs: the template's, checked, or the prompt
        column alone. With attachments, a template may name no column: rows told apart by their images or
        files may all be asked the same question."""
        if self.template is None:
            return [("", self.prompt_column)]
        return template_parts(self.template, same_for_every_row=bool(self.attached))

    @property
    def attached(self) -> tuple[tuple[MediaKind, str], ...]:
        """(kind, column) of each column of attachments, images first."""
        given: tuple[tuple[MediaKind, str | None], ...] = (
            ("image", self.image_column),
            ("file", self.file_column),
        )
        return tuple((kind, column) for kind, column in given if column is not None)
