"""Real processes: two writers on disjoint shards of one batch, and a writer SIGKILLed at random moments."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rowrelay.tasks.state import StateTable, load, summary

ROOT = Path(__file__).resolve().parents[2]


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.state.workers", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_writers_on_disjoint_shards(tmp_path: Path) -> None:
    directory = tmp_path / "multi"
    StateTable.open(directory, batch_id="multi").close()
    children = [_spawn("shard", str(directory), f"shard-{i}", str(i * 300), "300") for i in range(2)]
    for child in children:
        _out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    frame = load(directory)
    assert len(frame) == 600
    assert (frame["status"] == "completed").all()
    assert list(frame["row_index"]) == list(range(600))
    assert set(frame["writer"]) == {"shard-0", "shard-1"}
    assert frame.attrs["problems"] == []
    assert summary(directory)["counts"]["completed"] == 600


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_readable_table(tmp_path: Path) -> None:
    directory = tmp_path / "churn"
    rng = random.Random(7)
    completed: set[str] = set()
    for round_ in range(4):
        child = _spawn("churn", str(directory), "200", str(round_))
        assert child.stdout is not None
        ready = child.stdout.readline()
        assert ready.strip() == "ready", child.stderr.read() if child.stderr else ""
        time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()
        frame = load(directory)
        assert frame.attrs["problems"] == []
        assert list(frame["row_index"]) == list(range(200))
        now_completed = set(frame.loc[frame["status"] == "completed", "row_key"])
        assert completed <= now_completed  # completed never goes back, even across kills
        completed = now_completed
        # the killed runner's lease is stale (dead pid): the next opener takes over and recovers orphans
        with StateTable.open(directory) as table:
            assert len(table) == 200
            assert table.counts()["submitting"] == 0
            assert table.problems == [] or all("took over" in p for p in table.problems)
