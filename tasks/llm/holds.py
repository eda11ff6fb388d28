"""What holds a run's calls back: the pauses of creates and of polls (a 429, a spent limit), each with
why, and the create at the front of the line waiting for the request or token budget. The rate budget
keeps them (`RateBudget.held`); the progress line says them, for a run that sends nothing for minutes
looked stuck (`rows 0/20  ...  0.0 rows/s` through a 300 s retry-after)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

HeldBy = Literal["creates", "polls", "tokens", "requests"]
"""`creates`, `polls`: that kind of call is paused. `tokens`, `requests`: the create at the front of the
line waits for that budget."""
TOLD_PAUSE = 1.0
"""Seconds a pause must have left to be said: the shortest ones are over before anyone reads them."""
TOLD_WAIT = 2.0
"""Seconds the create at the front must still wait for a budget to be said: paced creates wait moments
all the time."""


@dataclass(frozen=True)
class Hold:
    by: HeldBy
    seconds: float
    """How much longer, as far as is known now."""
    why: str


@dataclass
class Pauses:
    """When each kind of call may go again (`until`, by poll or not), why, and what the create at the
    front of the line waits for."""

    _until: dict[bool, float] = field(default_factory=dict)
    _why: dict[bool, str] = field(default_factory=dict)
    _front: tuple[float, HeldBy] | None = None

    def until(self, poll: bool) -> float:
        return self._until.get(poll, -math.inf)

    def extend(self, poll: bool, until: float, why: str) -> None:
        """Pause that kind until `until`, unless it already is for longer."""
        if until > self.until(poll):
            self._until[poll], self._why[poll] = until, why

    def front(self, due: float | None, by: HeldBy = "requests") -> None:
        """The create at the front waits for `by` until `due` (None: it goes, or none waits)."""
        self._front = None if due is None else (due, by)

    def held(self, now: float) -> tuple[Hold, ...]:
        told = tuple(
            Hold("polls" if poll else "creates", until - now, self._why[poll])
            for poll, until in sorted(self._until.items())
            if until - now >= TOLD_PAUSE
        )
        if self._front is not None and not any(hold.by == "creates" for hold in told):
            due, by = self._front
            if due - now >= TOLD_WAIT:
                told += (Hold(by, due - now, "--tpm" if by == "tokens" else "--rpm"),)
        return told
