"""A run's first creates go a few at a time, until one create's answer has been recorded.

A fault that meets every row alike stops the run once its first `alike.ALIKE` rows have met it
(`run.crashed_alike`, `run.refused_alike`), but only the creates not yet sent are saved by that. A bug
reading every create's answer (a trial's, in the create's stream) met rows whose creates had all left: at
the default `--max-in-flight` of 200 every one of a 100-row batch's creates was on the wire before the
first crash was read, each a paid job recorded as maybe created, and the next run sent them again. So
until one create's answer has been recorded (the row holds its token, or its end), at most `ALIKE`
creates are on their way at once; then every row goes as the budget lets it. It costs a run one create's
round trip with a few rows in flight: milliseconds for a background create, whose answer is its id. Each
session holds its own (an `--endpoints` entry's, a Dask shard's), as each counts its own crashes; a bug
met only once rows hold their tokens meets every create, but none is paid for twice (the tokens are kept).

A foreground backend (Chat Completions) answers a create with the whole response, minutes for a reasoning
model: holding the batch back for that would slow every run's start by the first answer's latency, so its
creates are not held (its rows' crashes are still stopped by `crashed_alike`).

    first = FirstCreates()
    probing = await first.enter()
    try: ... send the create; once its answer is recorded: first.answered()
    finally: first.leave(probing)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from rowrelay.tasks.run.alike import ALIKE


@dataclass
class FirstCreates:
    """Whether a create's answer has been recorded yet, and the creates on their way until then."""

    proven: bool = False
    """A create's answer has been recorded: creates are no longer held."""
    on_wire: int = 0
    """Creates sent while none was proven, not yet answered or failed."""
    _freed: asyncio.Event = field(default_factory=asyncio.Event)

    async def enter(self) -> bool:
        """Wait for a create's turn; whether it goes as one of the first (then `leave` must follow)."""
        while not self.proven and self.on_wire >= ALIKE:
            self._freed.clear()
            await self._freed.wait()
        if self.proven:
            return False
        self.on_wire += 1
        return True

    def answered(self) -> None:
        """A create's answer has been recorded: no create is held from here on."""
        if not self.proven:
            self.proven = True
            self._freed.set()

    def leave(self, probing: bool) -> None:
        """A create that went as one of the first (`enter` said so) is over, answered or not."""
        if probing:
            self.on_wire -= 1
            self._freed.set()
