"""Whether a create answered with a success that is not the API's stops the run: a wrong address, or a
glitch of a server that answers properly.

Such an answer (a web page, a body cut short, JSON naming no response or no choices) stopped the run at
once, as at a wrong base URL. But a trial's proxy cut one create's 200 JSON in half after dozens of creates
to the same URL had been taken, and a chat upstream sent its `{"error": ...}` with a 200 now and then: each
stopped the whole batch telling its user to check the base URL, and every resume stopped again at the
next one, so a nightly deployment never finished. A server that has answered this run's creates as the API
does is at the right address, so its answer otherwise is its glitch: the create counts on its row as maybe
sent (it may have started a job), the row goes again within its attempts, and the run goes on. The run
still stops at such an answer before any proper one (a wrong address answers every create alike), and at
`ALIKE` in a row with no proper answer between (a server turned into a sign-in page mid-run). Each
endpoint's session judges its own server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rowrelay.tasks.errors import TransientError
from rowrelay.tasks.llm.calls import BackendRefusedError, NotTheApiError, RequestRejectedError
from rowrelay.tasks.run.alike import ALIKE

log = logging.getLogger("rowrelay.submit")

CreateError = TransientError | RequestRejectedError | BackendRefusedError
"""What a create raises that `run.submit` records on its row."""


@dataclass
class Glitches:
    """What one endpoint's server has answered this run's creates with, for `judged`."""

    proper: bool = False
    """A create of this run was answered as the API answers (its job named, or a chat completion)."""
    in_a_row: int = 0
    """Answers not the API's since the last proper one."""
    _told: bool = False

    def answered(self) -> None:
        """A create was answered as the API answers."""
        self.proper = True
        self.in_a_row = 0

    def judged(self, error: CreateError) -> CreateError:
        """What a create's error means for the run: a `NotTheApiError` from a server that has answered
        properly is its glitch (a `GlitchError`, the row's), unless it is the `ALIKE`th in a row; any
        other error is as it was."""
        if not isinstance(error, NotTheApiError) or not self.proper:
            return error
        glitch = error.glitch()
        if glitch is None:  # every create would meet it, whatever came before
            return error
        self.in_a_row += 1
        if self.in_a_row >= ALIKE:
            return NotTheApiError(
                f"{error} ({ALIKE} such answers in a row, none of the API's between, from a server that had "
                "answered this run's creates properly)"
            )
        if not self._told:  # once a run: the rows' own errors say each one
            self._told = True
            log.warning(
                "%s; its row counts it as maybe sent and goes again within its attempts. While such answers "
                "come, creates go one at a time after a pause; the run stops at %d in a row",
                glitch,
                ALIKE,
            )
        return glitch
