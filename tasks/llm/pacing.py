"""How much of a per-minute limit may go at once: the burst of the create and token buckets, learned
from what the server shows.

OpenAI enforces a per-minute limit over shorter windows too ("60,000 requests/minute may be enforced as
1,000 requests/second"), so a client that bursts a minute's worth of creates at once earns a storm of
429s, each pausing creates for its retry-after: measured at 30,000 creates/min enforced per second, a
one-minute bucket sent 13% of its creates into 429s and created at 0.57 of the limit. Tokens are limited
the same way: a minute's tokens at once, against 1,200,000 tokens/min enforced per second, met 1,001
429s in a 2,000-row batch. Pacing evenly throws away nothing on such a server, but a server whose bucket
really holds a minute would let a short batch go much faster. So each bucket starts at half a second of
its rate, and grows to what the server's `x-ratelimit-remaining-*` shows it holds, less that same half
second, which keeps the server's bucket from running dry when requests arrive bunched (the event loop,
the network). A create 429 means the server's window is shorter than it showed: both bursts go back to
half a second for the rest of the run. A single create larger than the burst (a long prompt's tokens)
still goes alone when the bucket is full, as a server's bucket takes it, and is paid back before anything
else goes (`LearnedPace.acquire`).

aiolimiter's bucket holds `max_rate` and leaks at `max_rate / time_period`; changing both public
attributes in proportion changes the burst and keeps the rate.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter

CUSHION_SECONDS = 0.5
"""The burst to start with, and what is kept back from the server's bucket, in seconds of the rate."""


def even_bucket(per_minute: float, burst_seconds: float) -> AsyncLimiter:
    """A bucket of `per_minute` units a minute that lets at most `burst_seconds` of them go at once (at
    least one unit, so that a rate under one a `burst_seconds` still lets a unit through)."""
    burst = max(1.0, per_minute * burst_seconds / 60.0)
    return AsyncLimiter(burst, burst * 60.0 / per_minute)


class LearnedPace:
    """A bucket of `per_minute` units a minute, in bursts no larger than the server is known to take.

    Callers of `acquire` with more than the burst must take turns (`RateBudget`'s token turn): while one
    waits, the bucket is widened to its amount."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.limiter = even_bucket(per_minute, CUSHION_SECONDS)
        self.floor = self.limiter.max_rate
        self.burst = self.floor
        """What the server is known to take at once (less the cushion)."""
        self.shrunk = False
        self._oversized = 0.0

    def _apply(self) -> None:
        capacity = max(self.burst, self._oversized)
        self.limiter.max_rate = capacity
        self.limiter.time_period = capacity * 60.0 / self.per_minute

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until `amount` units fit. More than the burst (a long prompt's tokens) waits for a full
        bucket and goes alone, as a server's full bucket takes it: the bucket is that large only while
        it waits (aiolimiter refuses an amount over its capacity), and what it took is paid back at the
        rate before anything else goes, so one long row does not leave every later burst as large."""
        if amount <= self.burst:
            await self.limiter.acquire(amount)
            return
        self._oversized = amount
        self._apply()
        try:
            await self.limiter.acquire(amount)
        finally:
            self._oversized = 0.0
            self._apply()

    def observe(self, remaining: int, limit: int) -> None:
        """The server's bucket holds at least `remaining` + 1 (this create took at least one unit)."""
        if self.shrunk:
            return
        held = min(remaining + 1, limit, self.per_minute)  # never more than a minute of our own rate
        if held - self.floor > self.burst:
            self.burst = held - self.floor
            self._apply()

    def on_rate_limited(self) -> None:
        self.shrunk = True
        self.burst = self.floor
        self._apply()
