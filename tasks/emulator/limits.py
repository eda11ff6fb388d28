"""Token-bucket rate limits and OpenAI's `x-ratelimit-*` headers (time is always a parameter)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# A limit nobody reaches, reported when an option is unset, so the headers are always present.
UNLIMITED = 1_000_000_000


@dataclass(slots=True)
class Bucket:
    """`limit` units a minute, refilled continuously, as OpenAI's limits are.

    `capacity` is the burst a full bucket allows: the whole minute's limit by default, or less when the
    limit is enforced over a shorter window (OpenAI: "60,000 requests/minute may be enforced as 1,000
    requests/second").
    """

    limit: int
    capacity: float
    level: float
    updated: float

    @classmethod
    def per_minute(cls, limit: int | None, now: float, window: float = 60.0) -> Bucket:
        size = limit or UNLIMITED
        capacity = max(1.0, size * min(window, 60.0) / 60.0)
        return cls(size, capacity, capacity, now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.limit / 60.0)
            self.updated = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until `amount` units are available (0 if they are now)."""
        self._refill(now)
        # Larger than a full bucket but within the minute's limit (a limit enforced over a shorter
        # window): it waits for a full bucket. Over the minute's limit it is refused (`TooLarge`).
        amount = min(amount, self.capacity)
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing * 60.0 / self.limit

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level -= min(amount, self.capacity)

    def remaining(self, now: float) -> int:
        self._refill(now)
        return max(0, math.floor(self.level))

    def reset_after(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        self._refill(now)
        return (self.capacity - self.level) * 60.0 / self.limit


def go_duration(seconds: float) -> str:
    """Format like Go's time.Duration, as OpenAI's reset headers do: `12ms`, `1.5s`, `6m0s`."""
    if seconds < 1.0:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60.0:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}m{round(rest, 3):g}s"


def ratelimit_headers(requests: Bucket, tokens: Bucket, now: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(requests.limit),
        "x-ratelimit-limit-tokens": str(tokens.limit),
        "x-ratelimit-remaining-requests": str(requests.remaining(now)),
        "x-ratelimit-remaining-tokens": str(tokens.remaining(now)),
        "x-ratelimit-reset-requests": go_duration(requests.reset_after(now)),
        "x-ratelimit-reset-tokens": go_duration(tokens.reset_after(now)),
    }


def retry_after_headers(wait: float) -> dict[str, str]:
    """`retry-after` in whole seconds (at least 1, as the spec says) and the exact `retry-after-ms`."""
    return {
        "retry-after": str(max(1, math.ceil(wait))),
        "retry-after-ms": str(max(1, round(wait * 1000))),
    }
