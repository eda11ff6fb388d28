"""What a server's rate-limit headers say: the wait a 429 asks for (`retry-after-ms`, `retry-after`), and
when a limit that `x-ratelimit-*` shows spent has room again."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """Parse OpenAI's Go-style reset durations (`12ms`, `1s`, `6m0s`, `1h2m3.5s`) into seconds."""
    if not text:
        return None
    parts = _DURATION.findall(text.strip())
    if not parts:
        try:
            return float(text)
        except ValueError:
            return None
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


def retry_after(headers: Mapping[str, str], *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from `retry-after-ms` (checked first, as the SDK does) or `retry-after`, in
    seconds or as an HTTP-date (RFC 9110 allows both; a date is read against `now`, epoch seconds).

    A date already past means no wait, never a negative one. A value that is not a finite number (`inf`,
    `nan`) is no instruction: honoured, `inf` would pause the run for ever."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    date = _http_date(headers.get("retry-after"))
    return None if date is None else max(0.0, date - now())


def _http_date(value: str | None) -> float | None:
    """Epoch seconds of an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms), else None."""
    if not value:
        return None
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    try:
        # An HTTP-date is UTC; parsedate_tz reads a date naming no zone (asctime's form) as UTC too.
        return float(email.utils.mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


LONGEST_SPENT = 60.0
"""The longest pause a spent limit's reset sets where no limit is shown: a minute refills any per-minute
limit."""


def shown(headers: Mapping[str, str], unit: str) -> tuple[int, int | None] | None:
    """`x-ratelimit-remaining-{unit}` and `x-ratelimit-limit-{unit}` (None where not said, or not
    positive). None when the remaining is not said, or is -1 (some Azure regions' "unknown")."""
    remaining = _int(headers.get(f"x-ratelimit-remaining-{unit}"))
    if remaining is None or remaining < 0:
        return None
    limit = _int(headers.get(f"x-ratelimit-limit-{unit}"))
    return remaining, limit if limit is not None and limit > 0 else None


def wait_for_room(headers: Mapping[str, str], unit: str, needed: int) -> float:
    """Seconds until the server has room for `needed` units of `unit` by its `x-ratelimit-*` headers: 0
    while at least that many remain. With the limit, once the missing units have refilled at its rate
    (`refill_wait`); without it, at the reset (at most `LONGEST_SPENT`), the server saying nothing
    comes back before then; with neither (Azure's remaining alone), 0: they do not say when."""
    seen = shown(headers, unit)
    if seen is None or seen[0] >= needed:
        return 0.0
    remaining, limit = seen
    if limit is not None:
        return refill_wait(needed, remaining, limit)
    reset = parse_duration(headers.get(f"x-ratelimit-reset-{unit}"))
    return min(LONGEST_SPENT, reset) if reset else 0.0


def refill_wait(needed: int, remaining: int, limit: int) -> float:
    """Seconds until `needed` units are available where `remaining` are, for a limit of `limit` a minute
    (at most a minute: what is more than the limit waits for the whole of it).

    OpenAI's limits are per minute and refill continuously; its reset is the time until the bucket is
    whole again ("limit 60, remaining 59, reset 1s"; "limit 10000, remaining 9999, reset 6ms"), so
    (limit - remaining) / reset is the same rate on its headers, and was read as the rate. It is not
    on others': a server saying "limit 60, remaining 0, reset 20s" on every create was sent 3 creates
    a second, and a bucket holding a second of its limit (the emulator's --rate-window 1: reset 1s
    when spent) was taken to refill 60 times faster than it does."""
    missing = min(needed, limit) - remaining
    if missing <= 0:
        return 0.0
    return missing * 60.0 / limit


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
