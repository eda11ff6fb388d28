"""A hand-driven clock for the emulator (its `Clock` protocol), so no test depends on a wall-clock window."""

from __future__ import annotations


class ManualClock:
    """Stands still until `advance` moves it; the emulator's buckets, timelines and windows read it.

    The emulator serves from another thread: a float assignment is atomic, so no lock is needed."""

    def __init__(self, monotonic: float = 1_000.0, wall: float = 1_750_000_000.0) -> None:
        self._monotonic = monotonic
        self._wall = wall

    def monotonic(self) -> float:
        return self._monotonic

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        self._wall += seconds
