"""When to poll a background response next: a pure function of what has been seen.

Polls cost rate budget, and a completion noticed late costs wall time. With no history the first look
comes after a quarter of a second, then exponential backoff to a cap: a short response (or a small
batch) is not held a second for nothing, and a minutes-long one pays about two polls more than from a
one-second start, only until eight latencies have been seen. Once latencies
have been observed, the first poll lands near the fastest completions (the 10th percentile), and later
polls tighten around the median and widen past the tail, so a completion is noticed within a small
fraction of the typical latency.

That density is only worth its polls where a late notice costs wall time (`run.pace`). Where it costs
nothing (`slack`), every look may come up to `RELAXED` of the median later: the first after the fastest
completions plus that much, the next ones that far apart, so most rows need one or two polls. Among a
batch's last rows (`closing`), each is looked at every `CLOSING_STEP` of the median, at least
`MIN_INTERVAL`: one of them is the last, and its lag is the batch's.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from rowrelay.tasks.run.scouting import Scouting

FIRST_POLL = 0.25
BACKOFF = 1.6
MIN_INTERVAL = 0.25
FIRST_LOOK_FLOOR = 0.02
"""The first look waits for the fastest completions however fast they are (cached answers, a local
server): held to MIN_INTERVAL it kept each such row's in-flight slot a quarter second for nothing."""
MAX_INTERVAL = 30.0
RELAXED = 1.0
"""The most a look may come later, as a share of the median latency, where lag costs no wall time:
replaying the schedule against lognormal latencies (median 3 s, sigma 0.4; 1,000 rows created at once,
5,000 at 50/s after a burst of 3,000, 10,000 at 500/s) gave 1.5-1.8 polls a row instead of 7-9 at half
the median, and the last completion noticed within 0.2 s (0.2-1.3 s with dense polling, which widens
past the tail). A whole median cost up to 0.8 s of wall while the estimate learned half of a first
look's time (`completion_estimate`); since it learns the server's, the whole median cut polls from 1.40
to 1.21 a row in 5,000-row runs of the command (tests/benchmarks/bench_cli.py's workload) for the same
wall (52.0 and 51.8 s)."""
CLOSING_STEP = 0.02
"""How often each of a batch's last rows is looked at, as a share of the median latency (at least
`MIN_INTERVAL`): a few dozen rows, polled until the last one is noticed."""
SERVER_CLOCK = 1.0
"""Resolution of a response's `created_at` and `completed_at` (whole seconds on OpenAI and Azure)."""
_WINDOW = 512  # latencies kept for the estimate


def completion_estimate(running_at: float, seen_at: float, server_seconds: float | None) -> float:
    """Seconds from a response's create to its end, for the schedule to learn: it was last seen running
    `running_at` seconds after the create (0: never) and seen ended at `seen_at`; the server's own
    timestamps, when it gives them, say it took `server_seconds` (to within `SERVER_CLOCK`).

    The middle of what both allow. The middle of the looks alone is what a server without timestamps
    leaves: for a response found done at its first look it is half that look's time, which taught the
    schedule latencies half as long as they were, and every later row looked early and again."""
    low, high = running_at, seen_at
    if server_seconds is not None:
        low, high = max(low, server_seconds - SERVER_CLOCK), min(high, server_seconds + SERVER_CLOCK)
        if low > high:  # the clocks disagree: trust the looks
            low, high = running_at, seen_at
    return (low + high) / 2


@dataclass
class LatencyModel:
    """A sliding window of observed completion latencies (seconds), kept sorted for quantiles."""

    samples: list[float] = field(default_factory=list)
    _order: list[float] = field(default_factory=list)
    scouting: Scouting = field(default_factory=Scouting)

    def observe(self, seconds: float) -> None:
        if len(self._order) >= _WINDOW:
            bisect.insort(self.samples, seconds)
            self.samples.remove(self._order.pop(0))
        else:
            bisect.insort(self.samples, seconds)
        self._order.append(seconds)

    def quantile(self, q: float) -> float | None:
        """None until 8 latencies are known. While a scout is still running, the scouts' estimate
        (`Scouting`): None below the median until they reach it, and above it at least the longest any
        was seen running. Then the window's."""
        if len(self.samples) < 8:
            return None
        if self.scouting.unsettled:
            found = self.scouting.quantile(q)
            if found is None and q > 0.5:
                return self.scouting.longest_seen()
            return found
        index = min(len(self.samples) - 1, max(0, round(q * (len(self.samples) - 1))))
        return self.samples[index]


def next_poll_delay(
    elapsed: float, polls_done: int, model: LatencyModel, slack: float = 0.0, closing: bool = False
) -> float:
    """Seconds to wait before the next poll of a response created `elapsed` seconds ago.

    `slack`: seconds by which a completion may be noticed late at no cost (`Pace.slack`); `closing`: the
    row is one of the batch's last (`Pace.closing`).
    """
    median = model.quantile(0.5)
    if median is None:
        return min(MAX_INTERVAL, FIRST_POLL * BACKOFF**polls_done)
    if closing and polls_done:
        return min(MAX_INTERVAL, max(MIN_INTERVAL, CLOSING_STEP * median))
    allowance = min(slack, RELAXED * median)
    early = model.quantile(0.1) or median
    if polls_done == 0 and elapsed < early + allowance:
        return max(FIRST_LOOK_FLOOR, early + allowance - elapsed)
    tail = model.quantile(0.95) or median
    # Within the bulk, poll at a tenth of the median; past the tail, at a tenth of the time already
    # spent, which backs off geometrically and keeps the detection lag near 10% of the latency.
    step = max(allowance, 0.1 * (median if elapsed <= tail else elapsed))
    return min(MAX_INTERVAL, max(MIN_INTERVAL, step))
