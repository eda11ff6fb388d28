"""What a shard's run reports: a moment of it as it goes (`Progress`, for progress bars, lines and
Prefect's artifact) and how it ended (`RunReport`). The runner (`runner.py`) makes both; the session, the
flow's progress and a Python caller's `progress_sink` read them, none needing the runner itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from rowrelay.tasks.records import ENDED, IN_FLIGHT, RowStatus
from rowrelay.tasks.run.context import RunCounters

__all__ = ["Progress", "RunReport"]


@dataclass(frozen=True)
class Progress:
    """A moment of a run, for progress bars and artifacts."""

    counts: dict[RowStatus, int]
    total: int
    elapsed: float
    counters: RunCounters
    spent_usd: float | None = None
    """What the batch's rows have cost so far (earlier runs included); None without prices."""
    projected_usd: float | None = None
    """What the whole batch would cost at the mean cost of a priced row so far."""
    sent_again: int = 0
    """Rows of `counts` ended failed or cancelled that the run sends again (a stop's, on a resume): not
    done. Counted done, a resume after Ctrl-C began at `rows 2613/3000`, fell back as it sent them, and
    its rate read 0.0 rows/s, eta -:--, until more rows ended than that first line had said."""

    @property
    def done(self) -> int:
        return max(0, sum(self.counts.get(status, 0) for status in ENDED) - self.sent_again)

    @property
    def in_flight(self) -> int:
        return sum(self.counts.get(status, 0) for status in IN_FLIGHT)

    def without(self, rows: Mapping[RowStatus, int]) -> Progress:
        """This moment over fewer rows: the table's counts less `rows` (per status), e.g. the rows a run
        leaves alone (`BatchPlan.left_alone`)."""
        if not rows:
            return self
        counts = {status: n - rows.get(status, 0) for status, n in self.counts.items()}
        return replace(self, counts=counts, total=self.total - sum(rows.values()))


@dataclass
class RunReport:
    counts: dict[RowStatus, int]
    counters: RunCounters
    elapsed: float
    cancelled: int = 0
    crashed_rows: list[str] = field(default_factory=list)
