"""Once a run's session is open, glibc gives big freed blocks back to the system at once
(`rowrelay.tasks.state.allocator.hand_back_large_blocks`): by its own rule it served them from its heaps
after the first big free, and kept what a long run freed, so the run's RSS grew with the rows done.

Each case runs in a fresh process, whose allocator has seen nothing of another test's."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from rowrelay.tasks.state.allocator import MMAP_THRESHOLD_VARIABLE

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator only"
)

# Opens a real table and session (nothing is sent), then frees an 8 MiB block, which by glibc's own rule
# would serve every later block up to 8 MiB from its heaps, and asks for 1 MiB: mapped apart, or not.
_AFTER_A_SESSION = """
import asyncio, ctypes, sys
from pathlib import Path
from rowrelay.tasks.run import open_session
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable

class MallInfo2(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

async def open_and_close(directory: Path) -> None:
    table = StateTable.open(directory, batch_id="blocks")
    table.add_pending([("row-0", 0, "hash-0")])
    settings = Settings(backend="emulator", base_url="http://127.0.0.1:9/v1")
    session = open_session(settings, table, lambda key: "Say hello.")
    await session.aclose()
    table.close()

asyncio.run(open_and_close(Path(sys.argv[1])))
big = bytearray(8 << 20)
del big
mapped = libc.mallinfo2().hblkhd
block = bytearray(1 << 20)
print(libc.mallinfo2().hblkhd - mapped >= 1 << 20)
"""


def _mapped_apart_after_a_session(tmp_path: Path, threshold: str | None = None) -> bool:
    env = {k: v for k, v in os.environ.items() if k != MMAP_THRESHOLD_VARIABLE}
    if threshold is not None:
        env[MMAP_THRESHOLD_VARIABLE] = threshold
    done = subprocess.run([sys.executable, "-c", _AFTER_A_SESSION, str(tmp_path / "state")], env=env,
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return done.stdout.strip().splitlines()[-1] == "True"


def test_a_big_block_freed_during_a_run_goes_back_to_the_system(tmp_path: Path) -> None:
    assert _mapped_apart_after_a_session(tmp_path)


def test_a_threshold_the_user_set_through_glibcs_variable_holds(tmp_path: Path) -> None:
    assert not _mapped_apart_after_a_session(tmp_path, threshold=str(4 << 20))
