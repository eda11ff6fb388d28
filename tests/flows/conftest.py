"""Flow, CLI and deployment tests: a real Prefect API (`prefect_env` / `prefect_api`, in tests/conftest.py)
and the housekeeping its client needs in-process.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

_PREFECT_LEFTOVERS = (
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning",
    "ignore:Exception ignored in. <function _SelectorTransport.__del__"
    ":pytest.PytestUnraisableExceptionWarning",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Prefect's API client leaves keep-alive sockets and transports for the garbage collector; in
    flow tests only, those two unraisable warnings (Prefect's housekeeping, not ours) are let through."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            for spec in _PREFECT_LEFTOVERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(autouse=True)
def _collect_prefect_client_leftovers() -> Iterator[None]:
    """Prefect's API client leaves keep-alive sockets and transports for the garbage collector.
    Collect them here, with ResourceWarning silenced for just this sweep, so the warning (Prefect's
    housekeeping, not ours) cannot surface as an error in whichever test the GC happens to run in."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
