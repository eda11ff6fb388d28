"""How many times each request has been sent: a retried request draws its faults and plan again.

Counted by the request's digest (`model.request_digest`). An emulator with a retention (the embedded one,
reused by every run for weeks) forgets a request unseen for two retentions, as it forgets the response
it made: a counter kept for ever held about 100 bytes for every distinct request ever sent, one per row
of every batch, however short the retention. Two generations make that O(1): counts live in `_recent`,
and each retention `_recent` becomes `_older` (what `_older` held, unseen for a whole generation, goes);
a request seen again moves back to `_recent` with its count. With no retention nothing is forgotten.
"""

from __future__ import annotations

__all__ = ["Occurrences"]


class Occurrences:
    """Sends of each request so far, by digest; 0 for one never seen (or forgotten)."""

    def __init__(self, retention: float | None, now: float) -> None:
        self._retention = retention
        self._since = now  # when `_recent` began
        self._recent: dict[bytes, int] = {}
        self._older: dict[bytes, int] = {}

    def __getitem__(self, digest: bytes) -> int:
        return self._recent.get(digest) or self._older.get(digest, 0)

    def __len__(self) -> int:
        return len(self._recent) + len(self._older)

    def add(self, digest: bytes) -> int:
        """Count one more send of this request; returns its count."""
        count = self[digest] + 1
        self._recent[digest] = count
        self._older.pop(digest, None)  # one entry a request: the count is in `_recent` now
        return count

    def age(self, now: float) -> None:
        """Start a new generation once a retention has passed since this one began (the sweep calls it)."""
        if self._retention is not None and now - self._since >= self._retention:
            self._older, self._recent, self._since = self._recent, {}, now
