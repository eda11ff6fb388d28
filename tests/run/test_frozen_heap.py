"""A heap its caller froze stays as the caller froze it after a run (`tasks/run/frozen_heap.py`).

The runner freezes the heap while rows run and unfroze it after with `gc.unfreeze()`, which hands every
frozen object back to the collector: a notebook user who had frozen their heap found it unfrozen. CPython
has a single frozen generation, so the run now leaves a heap it finds frozen alone (the caller's freeze
already keeps the collector off it) and freezes and unfreezes only a heap nothing had frozen. In-process:
the freeze is this process's.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.frozen_heap import heap_frozen
from tests.support.runs import new_table, prompts, settings_for
from tests.support.suite_freeze import suite_freeze_set_aside


class _CallersObject:
    """Something the caller made before it froze its heap."""


@pytest.fixture
def callers_freeze() -> Iterator[object]:
    """The heap frozen by its caller, with one object of the caller's among what it froze (the suite's
    own freeze, tests/conftest.py, set aside for the test and given back after)."""
    with suite_freeze_set_aside():
        mine = _CallersObject()
        gc.freeze()
        yield mine


def _frozen(thing: object) -> bool:
    """Whether `thing` sits in the frozen generation: a full collection walks every other one, and
    `gc.get_objects()` lists what the collector tracks outside it."""
    return all(each is not thing for each in gc.get_objects())


def test_a_run_leaves_a_heap_its_caller_froze_frozen(callers_freeze: object) -> None:
    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    assert _frozen(callers_freeze)
    with heap_frozen():
        assert gc.get_threshold()[0] >= 50_000  # the young generations still collected less often
    assert _frozen(callers_freeze), "the caller's freeze undone"
    # Nothing more frozen either, which would stay frozen for good (fewer: frozen objects freed meanwhile)
    assert gc.get_freeze_count() <= frozen
    assert gc.get_threshold() == thresholds


def test_overlapping_runs_leave_a_heap_its_caller_froze_frozen(callers_freeze: object) -> None:
    frozen = gc.get_freeze_count()
    first, second = heap_frozen(), heap_frozen()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert _frozen(callers_freeze)
    assert gc.get_freeze_count() <= frozen


async def test_a_whole_run_leaves_a_heap_its_caller_froze_frozen(
    callers_freeze: object, tmp_path: Path
) -> None:
    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        table = new_table(tmp_path / "batch", 10)
        session = open_session(settings_for(emu), table, prompts(10))
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
    assert report.counts == {"completed": 10}
    assert _frozen(callers_freeze), "the caller's freeze undone by the run"
    assert gc.get_freeze_count() <= frozen  # the rows' work froze nothing more
    assert gc.get_threshold() == thresholds
