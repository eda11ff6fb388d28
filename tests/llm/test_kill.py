"""Crash safety end to end: a runner process SIGKILLed at random moments, restarted until done.

Every row must end completed exactly once in the state table, and the emulator must hold no row
created twice except rows the table counted as orphaned (their create may have reached the server
before the kill), bounded by those orphan counts.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from tasks.state import load

ROWS = 500
ROOT = Path(__file__).resolve().parents[2]


def frame_orphans(state: Path) -> int:
    return int(load(state)["orphans"].sum())


def run_worker(url: str, state: Path, mode: str, log: Path, kill_after: float | None) -> int | None:
    """Run one worker; SIGKILL it after `kill_after` seconds (None: let it finish). Returns its rc."""
    command = [sys.executable, "-m", "tests.llm.kill_worker", url, str(state), str(ROWS), mode]
    with log.open("wb") as sink:
        worker = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=sink)
        try:
            return worker.wait(timeout=kill_after if kill_after is not None else 240)
        except subprocess.TimeoutExpired:
            if kill_after is None:
                raise
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            return None


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["poll", "stream"])
def test_sigkill_at_random_moments_loses_nothing_and_duplicates_only_counted_orphans(
    tmp_path: Path, mode: str
) -> None:
    rng = random.Random(20261124 + len(mode))
    state = tmp_path / "batch"
    # Creates answer 0.2 s after their job starts, so some kills land between "the server started it"
    # and "its id is durable": the orphan case the test is about.
    config = EmulatorConfig(latency=LatencySpec.parse("uniform:0.5,2.5"), seed=9, create_delay=0.2)
    with running_emulator(config) as emu:
        kills = 0
        for attempt in range(5):
            # Imports take about a second, so these land during real work at varied moments.
            rc = run_worker(emu.url, state, mode, tmp_path / f"worker-{attempt}.log", rng.uniform(1.5, 4.0))
            kills += rc is None
        final_log = tmp_path / "worker-final.log"
        assert run_worker(emu.url, state, mode, final_log, None) == 0, final_log.read_text()[-3000:]
        listing = emu.emulator.listing()
    assert kills >= 3
    assert frame_orphans(state) > 0, "no kill landed inside a create: the test did not test orphans"
    frame = load(state)
    assert len(frame) == ROWS
    assert (frame["status"] == "completed").all()
    assert frame["output_text"].notna().all()
    creates = Counter(
        r["metadata"]["rowrelay_row"] for r in listing if r["metadata"].get("rowrelay_batch") == "kill-test"
    )
    assert set(creates) == set(frame["row_key"])  # every row reached the server
    orphans = dict(zip(frame["row_key"], frame["orphans"], strict=True))
    duplicated = {key: n - 1 for key, n in creates.items() if n > 1}
    print(
        f"{mode}: kills={kills} orphans={sum(orphans.values())} duplicate creates={sum(duplicated.values())}"
    )
    assert all(orphans[key] >= extra for key, extra in duplicated.items()), (duplicated, orphans)
    # The recorded response is one the server completed, and completed rows were never sent again.
    completed_ids = {r["id"] for r in listing if r["status"] == "completed"}
    assert set(frame["response_id"]) <= completed_ids
