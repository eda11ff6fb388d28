"""An event loop on a virtual clock, for timing tests without wall-clock windows.

`loop.time()` is the virtual clock, and it moves only when nothing is ready to run: the loop then jumps
straight to its next timer instead of sleeping until it. Whatever is timed through the loop (`asyncio.sleep`,
`loop.call_at`, aiolimiter's buckets, the rate budget's pauses) runs unchanged, takes no wall time, and
waits exactly what it would have waited: a test asserts `elapsed == 0.15`, not `0.14 <= elapsed < 0.28`.

For code that does no I/O of its own: ready sockets are still served, but the clock never waits for one.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from collections.abc import Callable, Coroutine, Sized
from typing import Any, TypeVar

T = TypeVar("T")
START = 1_000.0
"""The virtual clock's first reading: not 0, so code that mistakes 0 for "never" shows up."""


class _Clock:
    def __init__(self) -> None:
        self.now = START


class _JumpingSelector(selectors.DefaultSelector):
    """The loop's selector. asyncio asks it to block for `timeout` (until its next timer, or for ever
    when it has none); instead it moves the clock on by `timeout` and only polls."""

    def __init__(self, clock: _Clock, idle: Callable[[], bool]) -> None:
        super().__init__()
        self._clock, self._idle = clock, idle

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            # No timer at all: only another thread (an executor finishing, say) can wake the loop, and
            # that is real time; skipping it would hang, so wait for it for real.
            return super().select(None)
        if timeout > 0 or self._idle():
            # Moved by at least one step of the float when the loop only waits for a timer (a zero
            # timeout with nothing ready: one due now). A timer a hair after now, after rounding, is
            # one due now, and code that re-arms it until time has passed (aiolimiter's wake-up, its
            # leak short by a rounding error) would otherwise spin at the same reading for ever; a
            # real clock always moves on between two turns of the loop.
            self._clock.now = max(self._clock.now + timeout, math.nextafter(self._clock.now, math.inf))
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose `time()` is the virtual clock (see the module docstring)."""

    _ready: Sized  # asyncio's queue of callbacks to run this turn

    def __init__(self) -> None:
        self._clock = _Clock()
        super().__init__(_JumpingSelector(self._clock, lambda: not self._ready))

    def time(self) -> float:
        return self._clock.now


def run_in_virtual_time(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `main()` to completion on a fresh VirtualTimeLoop and return its result."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main())
