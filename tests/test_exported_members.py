"""rowrelay's public API is what `rowrelay.__all__` lists: each name resolves, and nothing else is public.

In the style of httpx's tests/test_exported_members.py: a name added to or dropped from the public
surface shows up here as a failing test, so the change is deliberate.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import rowrelay

PUBLIC = {
    # the batch flow and what it returns
    "run_batch",
    "BatchRequest",
    "BatchResult",
    "progress_sink",
    "Progress",
    "retry",
    # settings
    "Settings",
    "load_settings",
    # reading a state table, mid-run or after
    "StateTable",
    "load",
    "summary",
    "read_table",
    "latest_sql",
    # the embedded emulator
    "running_emulator",
    "RunningEmulator",
    "EmulatorConfig",
    "LatencySpec",
    # errors
    "RowrelayError",
    "TransientError",
    "RateLimitedError",
    "TerminalError",
    "UsageError",
    "StateError",
    "LeaseHeldError",
    "DamagedFileError",
    "CorruptSegmentError",
    "MissingVersionsError",  # the README names these two as what a read of a damaged table raises
    "StateAccessError",
    "IllegalTransition",
    "ResponseGoneError",
    "OutageError",
    "BankUnreachableError",
    "WorkersGoneError",  # a Dask run's cluster had no running worker for ROWRELAY_DASK_NO_WORKERS_AFTER
    "SchedulerGoneError",  # a WorkersGoneError: the Dask scheduler itself cannot be reached
    "FailWhenFailedError",  # raised from Python past `fail_when_failed`, the run's result on it
    "OutputWriteError",  # the output could not be written at the end: the rows are kept (export)
}


def test_all_lists_exactly_the_public_api() -> None:
    assert set(rowrelay.__all__) == PUBLIC
    assert rowrelay.__all__ == sorted(rowrelay.__all__)


def test_every_exported_name_is_the_object_its_home_module_defines() -> None:
    for name in rowrelay.__all__:
        home = importlib.import_module(rowrelay._HOME_OF[name])
        assert getattr(rowrelay, name) is getattr(home, name), name
    assert set(rowrelay.__all__) <= set(dir(rowrelay))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = rowrelay.no_such_thing


def test_importing_rowrelay_imports_none_of_its_heavy_dependencies() -> None:
    """The emulator's own process imports `rowrelay` first: it must not pay for Prefect or pandas."""
    script = "import sys, rowrelay; print(sorted({'prefect', 'pandas', 'openai'} & set(sys.modules)))"
    shown = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["rowrelay.tasks.llm", "rowrelay.tasks.run"])
def test_a_package_that_imports_its_names_lazily_resolves_each_one_it_lists(package: str) -> None:
    """`tasks/lazy.py`: each name maps to the module that defines it (a typo there would fail only when
    some code first asked for that name), and `dir` lists them all."""
    module = importlib.import_module(package)
    for name in module.__all__:
        found = getattr(module, name)  # AttributeError from the submodule if the map misplaced it
        assert getattr(found, "__name__", name) == name, (package, name)
    assert set(module.__all__) <= set(dir(module))
