"""Shared fixtures: a real emulator over a real socket, one per test unless a test configures its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """A default emulator (zero latency, no limits, no faults) on a free port."""
    with running_emulator(EmulatorConfig()) as running:
        yield running
