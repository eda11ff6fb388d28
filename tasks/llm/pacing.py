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
else goes (`LearnedPace.due`).

The create and token buckets are kept here, not in aiolimiter: a caller asks when an amount fits (`due`)
and takes it then (`take`), so one wait covers both buckets and any pause at once, and nothing waiting
passes a bucket during a pause to go out all together when it ends (`RateBudget.acquire_create`).
"""

from __future__ import annotations

import math

from aiolimiter import AsyncLimiter

CUSHION_SECONDS = 0.5
"""The burst to start with, and what is kept back from the server's bucket, in seconds of the rate."""


def even_bucket(per_minute: float, burst_seconds: float) -> AsyncLimiter:
    """A bucket of `per_minute` units a minute that lets at most `burst_seconds` of them go at once (at
    least one unit, so that a rate under one a `burst_seconds` still lets a unit through)."""
    burst = max(1.0, per_minute * burst_seconds / 60.0)
    return AsyncLimiter(burst, burst * 60.0 / per_minute)


def _burst(per_minute: float) -> float:
    return max(1.0, per_minute * CUSHION_SECONDS / 60.0)


class LearnedPace:
    """A bucket of `per_minute` units a minute, in bursts no larger than the server is known to take.

    Its level leaks as aiolimiter's does (`_level` units at `_at`, the caller's clock) and goes up by
    what is taken; what may go at once is what the level leaves of the burst."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.floor = _burst(per_minute)
        self.burst = self.floor
        """What the server is known to take at once (less the cushion)."""
        self.shrunk = False
        self._level = 0.0
        self._at = -math.inf

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute

    def _level_at(self, at: float) -> float:
        return max(0.0, self._level - (at - self._at) / self.interval) if self._level else 0.0

    def due(self, now: float, amount: float = 1.0) -> float:
        """When `amount` units fit, if nothing else is taken first. More than the burst (a long prompt's
        tokens) waits for an empty bucket and goes alone, as a server's full bucket takes it; what it
        took is paid back at the rate before anything else goes (`take`), so one long row does not leave
        every later burst as large."""
        level = self._level_at(now)
        over = level if amount > self.burst else level + amount - self.burst
        return now + over * self.interval if over > 0 else now

    def take(self, now: float, amount: float = 1.0) -> None:
        self._level = self._level_at(now) + amount
        self._at = now

    def give_back(self, now: float, amount: float) -> None:
        """`amount` taken that the server never charged (a create it refused before anything started)."""
        self._level = max(0.0, self._level_at(now) - amount)
        self._at = now

    def room(self, at: float) -> float:
        """Units that would fit at `at` (now or later), if nothing were taken meanwhile."""
        return self.burst - self._level_at(at)

    def observe(self, remaining: int, limit: int, now: float) -> None:
        """The server's bucket holds at least `remaining` + 1 (this create took at least one unit), and
        refills `limit` a minute: a limit under our own rate is the rate from now on (what the level
        holds kept), with the burst of its half second."""
        if limit < self.per_minute:
            self.take(now, 0.0)  # the level as of now, leaked at the old rate
            self.per_minute = limit
            self.floor = self.burst = _burst(limit)
        if self.shrunk:
            return
        held = min(remaining + 1, limit, self.per_minute)  # never more than a minute of our own rate
        self.burst = max(self.burst, held - self.floor)

    def spent(self, now: float, remaining: int) -> None:
        """The server has only `remaining` left: no more goes from here at once, so that what waited
        for its room does not follow in a burst."""
        self.take(now, max(0.0, self.burst - remaining - self._level_at(now)))

    def on_rate_limited(self) -> None:
        self.shrunk = True
        self.burst = self.floor
