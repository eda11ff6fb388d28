"""When every create of a run is refused alike, the run stops, as for a parameter every row is sent with.

A server that refuses what rowrelay sends with every row, without naming it (older vLLM refusing
`background` with no `param`; a strict server's `extra_forbidden`), refuses every row the same way: each
failed `rejected` in turn, the run ended exit 1, and nothing said it was the server's. Named
(`param: "background"`), the refusal stops the run at the first create (`sdk_errors.sent_with_every_row`).

So the run also stops when its first `ALIKE` refusals are of `ALIKE` rows, say the same words, name no
parameter, and no create of the run was taken meanwhile: the words are the server's about the run, not
about those rows. Their rows go back to `pending`: nothing started, nothing spent. Narrow on purpose: a
refusal naming a parameter (the row's input, say), one of an input longer than the model's window, words
that differ, or any create taken, and it never stops the run. A batch whose first rows are each refused
for the same fault of their own, in the same words that name nothing, stops too: rare, and said.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rowrelay.tasks.llm import BackendRefusedError, RequestRejectedError
from rowrelay.tasks.llm.refusals import refusal_of
from rowrelay.tasks.llm.unusual_statuses import every_create_refused
from rowrelay.tasks.run.alike import ALIKE as ALIKE  # said here too: the run's first ALIKE refusals
from rowrelay.tasks.run.alike import FirstAlike

_THE_ROWS_OWN = frozenset({"context_length_exceeded"})
"""Codes of a refusal that is a row's own whatever its words (OpenAI's, and compatible servers')."""


@dataclass
class RefusedAlike:
    """The run's refusals so far, while each was like the first and no create was taken (`FirstAlike`:
    alike is in the same words)."""

    first: FirstAlike = field(default_factory=FirstAlike)

    def taken(self) -> None:
        self.first.spoiled()

    def refused(self, key: str, error: RequestRejectedError) -> list[str]:
        """Note a row's refusal; the rows refused alike when the run stops here (this one among them,
        and, once it has stopped, this one alone when refused so too), else none."""
        refusal = refusal_of(error)
        if refusal is None or refusal.param is not None or refusal.code in _THE_ROWS_OWN:
            self.first.spoiled()
            return []
        return self.first.failed(key, str(error))

    def stop(self) -> BackendRefusedError:
        """The run's stop, saying why in one line."""
        words = str(self.first.sign or "")
        said = (
            f"every create is refused alike, naming no parameter: the run's first {ALIKE} were, and none was "
            f"taken ({words}); nothing started, and those rows are pending again"
        )
        return every_create_refused(said, None, words)
