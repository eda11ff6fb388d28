"""The estimated costs of the rows in flight under `--max-cost`, and the wait for room under the cap.

A row is counted here from the create `Spend.admit` let through (or, for a response an earlier run
created, from `Spend.hold`) until it ends, at its estimate; a row that does not fit yet waits in
`changed` until an estimate is released, and then asks again. An end that is never reported here (a
response gone, a row failed while waiting) would hold the waiting rows back for ever, so a wait that sees
no release for a moment drops the estimates of rows that can no longer cost anything. The rows sent while
their estimate was still a guess are kept apart too (`guessed_total`): the cap counts them at more than
their estimate (`Ledger.admit`).

    in_flight.add(key, estimate)        # a create let through (`guessed`: on an estimate still a guess)
    await in_flight.changed(may_cost)   # a row waiting for room
    in_flight.release(key)              # the row ended: wakes the rows waiting

Apart from `spend`, which decides on the cap by arithmetic on `total`: this is the bookkeeping of who is
counted and the event the waiting rows share, which the cap's decision needs none of.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["InFlightEstimates"]

_PRUNE_AFTER = 1.0
"""Seconds a waiting row waits for a row in flight to end before it looks for estimates left behind."""


@dataclass
class InFlightEstimates:
    _estimates: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    """Estimated cost of the rows in flight."""
    _guessed: dict[str, float] = field(default_factory=dict)
    guessed_total: float = 0.0
    """The part of `total` sent on an estimate that was still a guess (`add(..., guessed=True)`)."""
    _change: asyncio.Event | None = None
    """Set when an estimate is released, while rows wait for room under the cap (None: none wait)."""
    _pruned_at: float = float("-inf")

    def __len__(self) -> int:
        return len(self._estimates)

    def __contains__(self, key: str) -> bool:
        return key in self._estimates

    @property
    def guessed(self) -> int:
        """Rows in flight sent on an estimate that was still a guess."""
        return len(self._guessed)

    def on_guess(self, key: str) -> bool:
        """Whether row `key` is in flight on an estimate that was a guess when it was sent."""
        return key in self._guessed

    def add(self, key: str, estimate: float, *, guessed: bool = False) -> None:
        """Count row `key` as in flight at `estimate` until it is released; `guessed`: sent on a guess."""
        self._estimates[key] = estimate
        self.total += estimate
        if guessed:
            self._guessed[key] = estimate
            self.guessed_total += estimate

    def release(self, key: str) -> float:
        """Drop row `key`'s estimate (its create started nothing, or it ended); returns it."""
        estimate = self._estimates.pop(key, 0.0)
        self.total = max(0.0, self.total - estimate) if self._estimates else 0.0
        if self._guessed.pop(key, None) is not None:
            self.guessed_total = max(0.0, self.guessed_total - estimate) if self._guessed else 0.0
        if estimate and self._change is not None:
            self._change.set()  # wake the rows waiting for room under the cap: all of them ask again
            self._change = None
        return estimate

    async def changed(self, may_cost: Callable[[str], bool]) -> None:
        """Wait until a row in flight has ended (or a moment has passed); then drop the estimates of rows
        that can no longer cost anything (`may_cost` says no), so an end that was not settled here (a
        response gone, a row failed while waiting) cannot hold the rest back for ever."""
        if self._change is None:
            self._change = asyncio.Event()
        change = self._change
        try:
            await asyncio.wait_for(change.wait(), _PRUNE_AFTER)
        except TimeoutError:
            now = asyncio.get_running_loop().time()
            if now - self._pruned_at >= _PRUNE_AFTER:  # once a moment, however many rows wait
                self._pruned_at = now
                for key in [key for key in self._estimates if not may_cost(key)]:
                    self.release(key)
