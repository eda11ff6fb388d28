"""The open-file limit is raised to fit a run's connections, up to the hard limit, or the run says why not
(in a child process: a lowered hard limit cannot be raised again)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import json, logging, resource, sys
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
from rowrelay.tasks.llm import make_backend
from rowrelay.tasks.settings import Settings
settings = Settings(backend="emulator", base_url="http://127.0.0.1:9", mode="stream", max_in_flight=1000)
held = [make_backend(settings) for _ in range(int(sys.argv[3]))]  # live at once: one per endpoint
for _ in range(int(sys.argv[4])):
    make_backend(settings)  # made and dropped, as a notebook's runs one after another
print(json.dumps(resource.getrlimit(resource.RLIMIT_NOFILE)))
"""

NEEDED = 2 * (100 + 1000) + 256  # two clients of 100 + one connection per stream, and the spare files


def _limits_after(soft: int, hard: int, held: int = 1, dropped: int = 0) -> tuple[list[int], str]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(soft), str(hard), str(held), str(dropped)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    limits: list[int] = json.loads(done.stdout)
    return limits, done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="no open-file limit on sockets")
def test_a_low_soft_limit_is_raised_to_fit_every_stream() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < NEEDED:
        pytest.skip(f"this machine's hard limit {hard} is below the {NEEDED} files the case needs")
    limits, said = _limits_after(256, hard)
    assert limits == [NEEDED, hard]
    assert "ulimit" not in said


@pytest.mark.skipif(sys.platform == "win32", reason="no open-file limit on sockets")
def test_a_hard_limit_too_low_for_the_run_is_said_before_it_sends() -> None:
    limits, said = _limits_after(256, 600)
    assert limits == [600, 600]  # raised as far as allowed
    assert (
        "rowrelay.backend: this run may hold 2200 connections, but this process may open only 600 files"
        in said
    )


@pytest.mark.skipif(sys.platform == "win32", reason="no open-file limit on sockets")
def test_backends_held_at_once_get_room_together_and_dropped_ones_give_theirs_back() -> None:
    together = 2 * (NEEDED - 256) + 256
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < together:
        pytest.skip(f"this machine's hard limit {hard} is below the {together} files the case needs")
    assert _limits_after(256, hard, held=2)[0] == [together, hard]  # two endpoints of one run
    assert _limits_after(256, hard, held=0, dropped=3)[0] == [NEEDED, hard]  # three runs in turn
