"""Helpers for the state table tests: a fake clock and small batches in `tmp_path`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.state import StateTable


class FakeClock:
    """A clock that moves only when told to (epoch seconds)."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def rows(n: int, start: int = 0) -> list[tuple[str, int, str]]:
    return [(f"row-{i:06d}", i, f"hash-{i}") for i in range(start, start + n)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def batch_dir(tmp_path: Path) -> Path:
    return tmp_path / "batch"


@pytest.fixture
def table(batch_dir: Path, clock: FakeClock) -> Iterator[StateTable]:
    with StateTable.open(batch_dir, batch_id="b1", clock=clock, checkpoint_interval=0.0) as opened:
        opened.add_pending(rows(10))
        yield opened
