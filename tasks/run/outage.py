"""When a run stops waiting for a server that answers nothing (`give_up_after`).

Rows ride out a server that is down: creates refused at the connect spend nothing and are sent again,
polls and streams are retried (`run.submit`, `run.wait`). Without a bound, a run against a server that
never comes back (a mistyped address, an endpoint taken down) would wait for ever, holding its batch's
lease, so the next scheduled run of the batch would be refused. So a run stops, with `OutageError`, once
the server has answered none of its requests for `give_up_after` seconds while requests failed without
an answer (refused connections, timeouts, 5xx). A 429 is an answer: waiting on a rate limit is never an
outage. The run stops as for a refused key: rows keep their response ids, nothing is cancelled on the
server, and the same command resumes them.

Each endpoint's session keeps its own `Silence` (the run's counters are shared by every endpoint, so
one endpoint's answers would hide another's outage). The watch reads it on the event loop's clock, so a
test on a virtual clock drives it without waiting.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rowrelay.tasks.errors import OutageError

_LOOKS = 10
"""Looks within `give_up_after`: the run stops at most a tenth of it (or a second) late."""
_LONGEST_LOOK = 1.0


@dataclass
class Silence:
    """What one endpoint's server answered, and what it left without an answer."""

    answers: int = 0
    """A create's job, a poll, a stream's event, a 429 or a refusal."""
    unanswered: int = 0
    """Transient failures (refused, timed out, cut, 5xx), and creates that may have started a job."""
    last_error: str | None = None

    def failed(self, error: BaseException | str) -> None:
        self.unanswered += 1
        self.last_error = str(error)


async def watch_for_outage(silence: Silence, give_up_after: float, endpoint: str | None = None) -> None:
    """Return never; raise `OutageError` (naming `endpoint`, one of several) once the server has answered
    nothing for `give_up_after` seconds while requests failed. Cancel it when the run's rows are done."""
    loop = asyncio.get_running_loop()
    step = min(_LONGEST_LOOK, give_up_after / _LOOKS)
    answers, failures = silence.answers, silence.unanswered
    looked_at = loop.time()
    quiet_since: float | None = None
    while True:
        await asyncio.sleep(step)
        now = loop.time()
        if silence.answers != answers:
            quiet_since = None
        elif quiet_since is None and silence.unanswered != failures:
            quiet_since = looked_at  # failing since the last look at the latest, with no answer since
        if quiet_since is not None and now - quiet_since >= give_up_after:
            raise OutageError(give_up_after, silence.last_error, endpoint)
        answers, failures, looked_at = silence.answers, silence.unanswered, now
