"""What a batch's first rows say about its latencies before most of them have ended.

A batch starts with nothing known, and its scouts (`run.pace.SCOUTS`) are watched to learn the latency:
polled, or followed on their create's stream (poll mode streams its first rows), when each is known to be
running at every moment until its end event.
The first of them to end are the fastest: learned alone, eight of thirty-two gave a median of 1.3 s where
it was 3 s, and every other row then looked early and again every quarter second (2.6 polls a row in
tests/benchmarks/bench_cli.py, against 1.4 when the estimate came later by chance). The scouts still
running say how much longer the rest take: each was seen running at some age, so its latency is longer
(right-censored). The Kaplan-Meier estimate over the cohort counts both, and a quantile the cohort has
not reached yet is not known.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

RUNNING, ENDED, GONE = 0, 1, 2
AT_RISK = 16
"""Scouts that must still have been running just before a completion for the estimate to go past it. The
scouts are looked at together, and their answers arrive one by one: the first few back, if done, are the
only ones seen past the last look, and alone they said every scout had ended (a 1,000-row run then
polled 2.2 times a row instead of 1.3)."""


@dataclass
class Scouting:
    """The scouts' cohort: each one's latest time (seconds after its create) and whether it ended there
    (completed), is still running there, or stopped being watched there without a latency."""

    clock: Callable[[], float] = time.monotonic
    _members: dict[str, tuple[float, int]] = field(default_factory=dict)
    _running: int = 0
    _followed: dict[str, float] = field(default_factory=dict)
    """Scouts followed on a stream, by the `clock` reading of their create: running until their end
    event, so at every moment they are known to be running at their current age."""
    _curve: list[tuple[float, float]] | None = None
    """(seconds, share ended by then) at each completion, cached until the cohort changes (never while
    a followed scout runs: its age grows with the clock)."""

    def running(self, key: str, seconds: float) -> None:
        """Scout `key` was seen still running `seconds` after its create."""
        self._set(key, seconds, RUNNING)

    def following(self, key: str, seconds: float) -> None:
        """Scout `key`, created `seconds` ago, is followed on its stream: running until it `ended`."""
        self._followed[key] = self.clock() - seconds
        self._curve = None

    def ended(self, key: str, seconds: float) -> None:
        """Scout `key` completed about `seconds` after its create."""
        self._followed.pop(key, None)
        self._set(key, seconds, ENDED)

    def left(self, key: str) -> None:
        """Scout `key` is no longer watched and gave no latency (failed, cancelled, gone): it counts as
        running until the last time it was seen so. Nothing changes for one that completed."""
        created = self._followed.pop(key, None)
        if created is not None:
            self._set(key, self.clock() - created, GONE)
            return
        seconds, state = self._members.get(key, (0.0, GONE))
        if state == RUNNING:
            self._set(key, seconds, GONE)

    def _set(self, key: str, seconds: float, state: int) -> None:
        before = self._members.get(key)
        self._running += (state == RUNNING) - (before is not None and before[1] == RUNNING)
        self._members[key] = (seconds, state)
        self._curve = None

    @property
    def unsettled(self) -> bool:
        """Some scout is still running: the cohort's estimate is the one to use."""
        return self._running > 0 or bool(self._followed)

    def quantile(self, q: float) -> float | None:
        """The `q` quantile of latency by Kaplan-Meier, or None where the cohort has not reached it."""
        for seconds, share in self._ended_by():
            if share >= q - 1e-9:
                return seconds
        return None

    def longest_seen(self) -> float:
        """The longest time any scout was seen at: every quantile not reached yet lies beyond it."""
        return max((seconds for seconds, _ in self._cohort()), default=0.0)

    def _cohort(self) -> list[tuple[float, int]]:
        members = list(self._members.values())
        if self._followed:
            moment = self.clock()
            members += [(moment - created, RUNNING) for created in self._followed.values()]
        return members

    def _ended_by(self) -> list[tuple[float, float]]:
        if self._curve is None or self._followed:
            # At equal times a completion comes before a censoring: a scout seen running at 2 s was at
            # risk of ending at 2 s.
            order = sorted(self._cohort(), key=lambda m: (m[0], m[1] != ENDED))
            surviving, at_risk, curve = 1.0, len(order), []
            for seconds, state in order:
                if state == ENDED:
                    if at_risk < AT_RISK:
                        break
                    surviving *= 1.0 - 1.0 / at_risk
                    curve.append((seconds, 1.0 - surviving))
                at_risk -= 1
            self._curve = curve
        return self._curve
