"""For state table tests: a fake clock and rows to plan."""

from __future__ import annotations


class FakeClock:
    """A clock that moves only when told to (epoch seconds)."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def rows(n: int, start: int = 0) -> list[tuple[str, int, str]]:
    """`n` planned rows (key, index, input hash), numbered from `start`."""
    return [(f"row-{i:06d}", i, f"hash-{i}") for i in range(start, start + n)]
