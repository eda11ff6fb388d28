"""What a row's images and files cost in input tokens, learned from the answers as the output estimate
is (`llm.budget.OutputEstimate`).

Before a row is sent, its input tokens are its text's (about four characters a token) plus its
attachments'. rowrelay reads neither image sizes nor page counts, so until answers come back each
attachment is a guess (`media_refs.tokens_guess`: 1,600 an image, 8,000 a file). A run over 40-page
contracts would go on budgeting 8,000 tokens for documents that cost 60,000 each, and under
`--max-cost` the rows in flight would be estimated at a fraction of what they cost: the cap, which holds
back rows while spent + in flight + this row's estimate would pass it, would be passed by the difference.
So each answer's input tokens beyond its text's estimate are what its attachments cost, and after
`ANSWERS_TO_LEARN` such answers a row's attachments are estimated at their mean, with the output
estimate's 25% margin.

    attached = AttachedTokens()
    attached.value(request.attachments)                       # before a create: tokens to budget
    attached.observe(snapshot.input_tokens, text, attachments)  # a response ended
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rowrelay.tasks.llm.estimates import ANSWERS_TO_LEARN
from rowrelay.tasks.media_refs import Attachment, tokens_guess

__all__ = ["AttachedTokens"]

_MARGIN = 1.25


@dataclass
class AttachedTokens:
    seen: int = 0
    """Answers of rows with attachments seen this run."""
    tokens: int = 0
    """Their input tokens beyond their text's estimate: what their attachments cost."""
    attachments: int = 0
    """How many attachments those rows carried."""

    def value(self, attachments: tuple[Attachment, ...]) -> int:
        """Input tokens to budget for `attachments` before their row is sent."""
        if not attachments:
            return 0
        if self.seen < ANSWERS_TO_LEARN:
            return tokens_guess(attachments)
        return math.ceil(_MARGIN * self.tokens / self.attachments * len(attachments))

    def observe(self, input_tokens: int, text_tokens: int, attachments: tuple[Attachment, ...]) -> None:
        """A response ended: `input_tokens` as its usage says, `text_tokens` as its prompt and instructions
        were estimated before it was sent."""
        if not attachments:
            return
        self.seen += 1
        self.tokens += max(0, input_tokens - text_tokens)
        self.attachments += len(attachments)
