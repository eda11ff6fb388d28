"""What a create will cost in tokens before its answer says: its prompt's tokens, by OpenAI's rule of
thumb, and the answer's, learned from the answers that came back (`OutputEstimate`). The rate budget
charges creates these (`budget.RateBudget`), and the cost cap prices them (`run.spend`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rowrelay.tasks.llm.usage_counts import MOST_OUTPUT_TOKENS

DEFAULT_OUTPUT_ESTIMATE = 1024
"""Output tokens assumed per answer when no max_output_tokens is set and nothing has been seen yet."""
ANSWERS_TO_LEARN = 10
"""Answers seen before the output estimate is their mean (with a margin) instead of the default."""


def estimate_tokens(text: str) -> int:
    """About four characters a token, OpenAI's rule of thumb; good enough to budget TPM."""
    return max(1, math.ceil(len(text) / 4))


@dataclass
class OutputEstimate:
    """Running estimate of output tokens per answer, reconciled with the usage that comes back."""

    ceiling: int | None
    seen: int = 0
    total: int = 0

    def value(self) -> int:
        if self.ceiling is not None:
            return self.ceiling
        if self.seen < ANSWERS_TO_LEARN:
            return DEFAULT_OUTPUT_ESTIMATE
        # Mean plus a margin: over-estimating wastes a little TPM, under-estimating earns 429s.
        return math.ceil(1.25 * self.total / self.seen)

    @property
    def guesses_left(self) -> int:
        """Answers still to see before the estimate stops being the default, a guess (0: it is not one,
        with a ceiling, or past `ANSWERS_TO_LEARN` answers)."""
        return 0 if self.ceiling is not None else max(0, ANSWERS_TO_LEARN - self.seen)

    def observe(self, output_tokens: int) -> None:
        # Each answer learned as at most `MOST_OUTPUT_TOKENS` (decided in usage_counts, where a larger
        # count arrives as unknown and is not observed at all): the mean follows one outlier, and an
        # older release's table may still hold a server's 10**12, which made every create wait a minute.
        self.seen += 1
        self.total += min(max(output_tokens, 0), MOST_OUTPUT_TOKENS)
