"""A run's first failures, while each is like the first and nothing went well meanwhile: when `ALIKE` rows
have failed so, the fault is the run's, not theirs, and the run stops.

Two faults are told this way: every create refused alike (`run.refused_alike`) and every row crashing
alike (`run.crashed_alike`). Each says what "alike" and "went well" mean for it; the counting, and that
only the run's first failures can stop it, are decided here, once.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

ALIKE = 5
"""Rows failed alike, and none gone well, before the run stops."""


@dataclass
class FirstAlike:
    """The run's failures so far, while each was like the first (`sign`) and nothing went well."""

    sign: Hashable | None = None
    """What the failures so far have in common (the server's words, a crash's type and place)."""
    rows: list[str] = field(default_factory=list)
    over: bool = False
    """Something went well, or failed otherwise, before the run stopped: it never stops on this."""
    stopped: bool = False

    def spoiled(self) -> None:
        """Something went well (a create taken, a row's drive ended), or failed unlike the first: from
        here on the failures are the rows' own. Once stopped, nothing changes that."""
        self.over = self.over or not self.stopped

    def failed(self, key: str, sign: Hashable) -> list[str]:
        """Note a row's failure; the rows failed alike when the run stops here (this one among them, and,
        once it has stopped, this one alone when it failed so too), else none."""
        if self.over:
            return []
        if self.sign is not None and sign != self.sign:
            self.spoiled()
            return []
        self.sign = sign
        if key not in self.rows:
            self.rows.append(key)
        if len(self.rows) < ALIKE:
            return []
        if self.stopped:
            return [key]
        self.stopped = True
        return list(self.rows)
