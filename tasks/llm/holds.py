"""What holds a run's calls back: the pauses of creates and of polls (a 429, a spent limit), each with
why, the backoff of 429s that name no wait, and the create at the front of the line waiting for the
request or token budget. The rate budget keeps them (`RateBudget.held`); the progress line says them,
for a run that sends nothing for minutes looked stuck (`rows 0/20  ...  0.0 rows/s` through a 300 s
retry-after)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

HeldBy = Literal["creates", "polls", "tokens", "requests", "one_by_one", "workers"]
"""`creates`, `polls`: that kind of call is paused. `tokens`, `requests`: the line of creates waits for
that budget (its seconds: until the last create now in the line goes, `RateBudget.held`). `one_by_one`:
creates go one at a time, none paused just now (their answers were lost: `run.outage.CreateHold`).
`workers`: a Dask run's shards wait for a worker, the cluster having none running
(`flows.cluster_workers`; infinite seconds: for ever)."""
BACKOFF_FIRST = 1.0
"""Seconds a 429 that names no wait pauses its kind of call, the first of a streak; each 429 of the same
kind that meets the calls sent once that pause ended doubles it (`RateBudget.on_rate_limited`)."""
BACKOFF_MOST = 30.0
"""The longest such pause. A fixed second earned a trial's 25 s storm of such 429s 198 of them for 20
rows."""
STREAK_FORGOTTEN = 2 * BACKOFF_MOST
"""Seconds past a streak's last pause after which a 429 starts a new one all the same: backends that
say nothing of the calls the server took (Chat Completions, agents) never end a streak otherwise."""
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
    endpoint: str | None = None
    """The `--endpoints` entry whose calls are held (None: the run has one server): each has its own
    budget, and a pause said without its name left a user of two keys guessing which one was spent."""


@dataclass
class Pauses:
    """When each kind of call may go again (`until`, by poll or not), why, and what the create at the
    front of the line waits for."""

    _until: dict[bool, float] = field(default_factory=dict)
    _why: dict[bool, str] = field(default_factory=dict)
    _front: tuple[float, HeldBy, str] | None = None
    _streaks: dict[bool, tuple[int, float]] = field(default_factory=dict)
    """By kind: 429s naming no wait in a row, and when the pause the last of them set ends."""

    def until(self, poll: bool) -> float:
        return self._until.get(poll, -math.inf)

    def extend(self, poll: bool, until: float, why: str) -> None:
        """Pause that kind until `until`, unless it already is for longer."""
        if until > self.until(poll):
            self._until[poll], self._why[poll] = until, why

    def backoff(self, poll: bool, now: float) -> float:
        """The pause for a 429 naming no wait (`RateBudget.on_rate_limited`)."""
        streak, until = self._streaks.get(poll, (0, -math.inf))
        if now - until > STREAK_FORGOTTEN:
            streak = 0
        if now >= until:  # a call sent after the last pause ended: the server still refuses
            streak += 1
        wait = min(BACKOFF_MOST, BACKOFF_FIRST * 2.0 ** (streak - 1))
        self._streaks[poll] = (streak, max(until, now + wait))
        return wait

    def taken(self, poll: bool) -> None:
        """The server took a call of that kind: the next 429 starts a new streak."""
        self._streaks.pop(poll, None)

    def front(self, due: float | None, by: HeldBy = "requests", why: str = "") -> None:
        """The create at the front waits for `by` until `due`, paced by `why` (None: it goes, or none
        waits)."""
        self._front = None if due is None else (due, by, why)

    def held(self, now: float) -> tuple[Hold, ...]:
        told = tuple(
            Hold("polls" if poll else "creates", until - now, self._why[poll])
            for poll, until in sorted(self._until.items())
            if until - now >= TOLD_PAUSE
        )
        if self._front is not None and not any(hold.by == "creates" for hold in told):
            due, by, why = self._front
            if due - now >= TOLD_WAIT:
                told += (Hold(by, due - now, why),)
        return told
