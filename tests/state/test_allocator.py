"""Arrow's pool in a process that imports the state table: the system allocator, measured faster for the
big one-shot tables a resume builds (`rowrelay.tasks.state.allocator`), unless the user chose a pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rowrelay.tasks.state.allocator import ARROW_POOL_VARIABLE

# A notebook has usually imported pandas (which imports pyarrow and creates its default pool) first.
_REPORT_POOL = (
    "import pandas, pyarrow; import rowrelay.tasks.state; print(pyarrow.default_memory_pool().backend_name)"
)


def _pool_after_import(chosen: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != ARROW_POOL_VARIABLE}
    if chosen is not None:
        env[ARROW_POOL_VARIABLE] = chosen
    done = subprocess.run([sys.executable, "-c", _REPORT_POOL], env=env, capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    return done.stdout.strip()


def test_importing_the_state_table_makes_the_system_allocator_arrows_default() -> None:
    assert _pool_after_import(None) == "system"


@pytest.mark.parametrize("chosen", ["jemalloc", "mimalloc"])
def test_a_pool_the_user_chose_through_arrows_variable_wins(chosen: str) -> None:
    assert _pool_after_import(chosen) == chosen
