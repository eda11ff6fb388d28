"""Which rows a run's progress line takes as ended when it projects the batch's cost, asked of the table
at a pace its cost allows.

    ended = EndedRows(table, policy.max_attempts)
    spend.projected(total, ended(table.counts()))            # every progress report
    spend.projected(total, ended(table.counts(), fresh=True))  # the run's last

The rule is `status`'s (`state.ended_for_projection`: the ended statuses less the failed and cancelled
rows the next run sends again). Asking it reads those rows' columns from the table, which a status count
cannot tell: ~2 ms at 1,000 rows, but 30-40 ms at 1,000,000 (the whole status column is scanned), twice
a second on the run's event loop whenever the batch holds a failed or cancelled row, as a run resuming a
stopped batch does until it has sent them all. So it is asked again only once twenty times what the last
asking took has passed (at most a twentieth of the loop's time); meanwhile the last answer stands, capped
by the failed and cancelled rows there are now: rows sent again leave those statuses, and after a stop
most such rows are ones the next run sends again, so the cap keeps it close. The run's last report asks
afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rowrelay.tasks.records import ENDED, ENDED_SENT_AGAIN, RowStatus
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.reader import SENT_AGAIN_FACTS, ended_for_projection

__all__ = ["EndedRows"]

_PACE = 20.0
"""Asked again no sooner than this many times what the last asking took."""


@dataclass
class EndedRows:
    table: StateTable
    max_attempts: int
    """The run's own (`RowPolicy.max_attempts`), by which a run sends a failed or cancelled row again."""
    clock: Callable[[], float] = time.monotonic
    _sent_again: int = field(default=0, init=False)
    _next: float = field(default=float("-inf"), init=False)

    def __call__(self, counts: Mapping[RowStatus, int], *, fresh: bool = False) -> int:
        """The rows of `counts` (rows by status, the table's now) the projection takes as ended."""
        ended = sum(counts.get(status, 0) for status in ENDED)
        if fresh or self.clock() >= self._next:
            began = self.clock()
            rows = self.table.columns
            left = ended_for_projection(
                counts, lambda: rows(ENDED_SENT_AGAIN, SENT_AGAIN_FACTS), self.max_attempts
            )
            self._sent_again = ended - left
            self._next = began + _PACE * (self.clock() - began)
        return ended - min(self._sent_again, sum(counts.get(status, 0) for status in ENDED_SENT_AGAIN))
