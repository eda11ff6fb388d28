"""Telling the user, once a run, that the server ignores `background` (some OpenAI-compatible servers).

Its rows still complete, so nothing fails; what changes is what a cut connection costs, which the user
can act on. A plain create shows it by answering only once its response has ended (a background create
is answered at once); a streamed create's first event comes before the end either way, and shows it only
by its response saying `"background": false`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rowrelay.tasks.llm import Snapshot

log = logging.getLogger("rowrelay.submit")


@dataclass
class NoBackground:
    """What a run has said of a server that ignores background mode: each kind of create once."""

    told_of_plain: bool = False
    told_of_streamed: bool = False

    def created(self, snapshot: Snapshot, *, streamed: bool) -> None:
        """Look at a background create's first answer and say, once for each kind, what ignoring
        background mode costs for it."""
        if streamed:
            if snapshot.background is False and not self.told_of_streamed:
                self.told_of_streamed = True
                log.warning(
                    "the server streams creates without background mode (its responses say "
                    '"background": false): a stream cut mid-answer cannot be resumed and is polled '
                    "instead, the server may drop the response it was making, and `rowrelay cancel` "
                    "cannot cancel its responses"
                )
            return
        if snapshot.status == "completed" and not self.told_of_plain:
            self.told_of_plain = True
            log.warning(
                "the server answered a background create only once its response had ended: it ignores "
                "background mode, so each create waits for its whole answer, and one that takes longer "
                "than the request timeout is cut and counted as maybe sent (paid again if sent again); "
                "raise ROWRELAY_REQUEST_TIMEOUT (60 s by default) above the longest answer"
            )
