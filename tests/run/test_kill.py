"""Crash safety end to end: a runner process SIGKILLed at random moments, restarted until done.

Every row must end completed exactly once in the state table. For every row, the jobs the emulator
started are at most the attempts the row spent, and every job beyond the first is a counted possible
duplicate (`orphans`) of that row. Kills are timed to land inside creates (the emulator answers creates
0.2 s after starting their job, and marks a job whose answer found its client gone): the test fails
unless some did, so it cannot pass by testing nothing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for

ROWS = 500
ROOT = Path(__file__).resolve().parents[2]


def run_worker(
    emu: RunningEmulator, state: Path, mode: str, log: Path, kill_after_creates: int | None
) -> int | None:
    """Run one worker; SIGKILL it once the server has seen `kill_after_creates` new creates from it
    (None: let it finish). Returns its rc, or None if it was killed.

    Kills are timed by creates rather than seconds: process start-up varies by seconds with machine
    load, while a kill just after a create arrives lands inside the window the test is about (the job
    started, its id not yet durable: the emulator answers creates 0.2 s late)."""
    command = [sys.executable, "-m", "tests.run.kill_worker", emu.url, str(state), str(ROWS), mode]
    before = len(emu.emulator.listing())
    with log.open("wb") as sink:
        worker = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=sink)
        if kill_after_creates is None:
            return worker.wait(timeout=240)
        deadline = time.monotonic() + 120
        while worker.poll() is None and len(emu.emulator.listing()) - before < kill_after_creates:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.01)
        if worker.poll() is not None:
            return worker.returncode
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
            log = tmp_path / f"worker-{attempt}.log"
            kills += run_worker(emu, state, mode, log, rng.randint(1, 80)) is None
        final_log = tmp_path / "worker-final.log"
        assert run_worker(emu, state, mode, final_log, None) == 0, final_log.read_text()[-3000:]
        listing = emu.emulator.listing()
    assert kills >= 3
    unanswered = Counter(r["metadata"]["rowrelay_row"] for r in listing if not r["answered"])
    assert sum(unanswered.values()) > 0, "no kill landed inside a create: the test did not test orphans"
    frame = load(state)
    assert len(frame) == ROWS
    assert (frame["status"] == "completed").all()
    assert frame["output_text"].notna().all()
    jobs = Counter(
        r["metadata"]["rowrelay_row"] for r in listing if r["metadata"].get("rowrelay_batch") == "kill-test"
    )
    assert set(jobs) == set(frame["row_key"])  # every row reached the server
    print(f"{mode}: kills={kills} orphans={frame['orphans'].sum()} paid duplicates={jobs.total() - ROWS}")
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    # The recorded response is one the server completed, and completed rows were never sent again.
    completed_ids = {r["id"] for r in listing if r["status"] == "completed"}
    assert set(frame["response_id"]) <= completed_ids
