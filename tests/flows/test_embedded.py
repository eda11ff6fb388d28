"""The embedded emulator started early (while a first run waits for its Prefect server) is the one the
run then uses: one process, its record written, and a failure to start raised where the run asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rowrelay.flows.embedded import emulator_record, ensure_emulator, start_emulator_early, stop_emulator
from rowrelay.tasks.errors import UsageError


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"
    stop_emulator(tmp_path / "home")


@pytest.mark.timeout(60)
def test_an_emulator_started_early_is_the_one_the_run_gets(home: Path) -> None:
    start_emulator_early(home, "--latency fixed:0")
    start_emulator_early(home, "--latency fixed:0")  # asked twice: still one start
    url, started = ensure_emulator(home, "--latency fixed:0")
    assert started
    assert httpx.get(f"{url}/models", timeout=5).status_code == 200
    record = emulator_record(home)
    assert record is not None
    assert record["url"] == url
    assert ensure_emulator(home, "--latency fixed:0") == (url, False)
    assert emulator_record(home) == record


@pytest.mark.timeout(60)
def test_an_early_start_that_fails_is_raised_where_the_run_asks(home: Path) -> None:
    start_emulator_early(home, "--no-such-option")
    with pytest.raises(UsageError, match="embedded emulator did not start"):
        ensure_emulator(home, "--no-such-option")
    assert emulator_record(home) is None
