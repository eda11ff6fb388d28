"""Fixtures for the state table tests: a fake clock and small batches in `tmp_path`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.state import StateTable
from tests.support.state import FakeClock, rows


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
