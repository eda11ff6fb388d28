"""When a run stops waiting for a server that answers nothing (`give_up_after`).

Rows ride out a server that is down: creates refused at the connect spend nothing and are sent again,
polls and streams are retried (`run.submit`, `run.wait`). Without a bound, a run against a server that
never comes back (a mistyped address, an endpoint taken down) would wait for ever, holding its batch's
lease, so the next scheduled run of the batch would be refused. So a run stops, with `OutageError`, once
the server has answered none of its requests for `give_up_after` seconds while requests failed without
an answer (refused connections, timeouts, 5xx). A 429 is an answer: waiting on a rate limit is never an
outage. The run stops as for a refused key: rows keep their response ids, nothing is cancelled on the
server, and the same command resumes them.

The watch reads the run's counters (answers, and the failures that got none) on the event loop's clock,
so a test on a virtual clock drives it without waiting.
"""

from __future__ import annotations

import asyncio

from rowrelay.tasks.errors import OutageError
from rowrelay.tasks.run.context import RunCounters

_LOOKS = 10
"""Looks at the counters within `give_up_after`: the run stops at most a tenth of it late."""
_LONGEST_LOOK = 1.0


async def watch_for_outage(counters: RunCounters, give_up_after: float) -> None:
    """Return never; raise `OutageError` once the server has answered nothing for `give_up_after` seconds
    while requests failed. Cancel it when the run's rows are done."""
    loop = asyncio.get_running_loop()
    step = min(_LONGEST_LOOK, give_up_after / _LOOKS)
    answers, failures = counters.answers, _unanswered(counters)
    looked_at = loop.time()
    quiet_since: float | None = None
    while True:
        await asyncio.sleep(step)
        now = loop.time()
        if counters.answers != answers:
            quiet_since = None
        elif quiet_since is None and _unanswered(counters) != failures:
            quiet_since = looked_at  # failing since the last look at the latest, with no answer since
        if quiet_since is not None and now - quiet_since >= give_up_after:
            raise OutageError(give_up_after, counters.last_error)
        answers, failures, looked_at = counters.answers, _unanswered(counters), now


def _unanswered(counters: RunCounters) -> int:
    """Requests that got no answer: transient failures, and creates that may have started a job."""
    return counters.transient_errors + counters.maybe_created
