"""Crash safety with Agent Framework workers: SIGKILLed at random moments, rerun until done.

As tests/llm/test_kill.py, but kills are timed by creates seen rather than seconds, and every row is run
by an AF agent (tests/run/kill_worker.py given an agent factory): every row ends completed, and the
emulator holds a row twice only where the table counted an orphan.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for

ROWS = 120
AGENT = "tests.llm.agent_factories:make_agent"
ROOT = Path(__file__).resolve().parents[2]


def run_worker(
    url: str, state: Path, mode: str, log: Path, created: Callable[[], int], kill_after: int | None
) -> int | None:
    """Run one agent worker; SIGKILL it once `kill_after` more creates reached the server (None: never).

    Counting creates instead of seconds puts the kill inside the create phase however long the worker
    takes to start (imports take 2 to 8 s on a busy machine)."""
    command = [sys.executable, "-m", "tests.run.kill_worker", url, str(state), str(ROWS), mode, AGENT]
    baseline = created()
    deadline = time.monotonic() + 60
    with log.open("wb") as sink:
        worker = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=sink)
        while worker.poll() is None and time.monotonic() < deadline:
            if kill_after is not None and created() >= baseline + kill_after:
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                return None
            time.sleep(0.01)
        if worker.poll() is None:
            worker.kill()
            worker.wait()
            raise AssertionError(f"worker did not finish: {log.read_text()[-3000:]}")
        return worker.returncode


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_agent_workers_killed_at_random_lose_nothing_and_duplicate_only_counted_orphans(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261125)
    state = tmp_path / "batch"
    # Workers alternate modes on one state table: a row a poll worker submitted is streamed by the next.
    modes = ["poll", "stream", "poll"]
    config = EmulatorConfig(latency=LatencySpec.parse("uniform:0.3,1.2"), seed=9, create_delay=0.2)
    with running_emulator(config) as emu:

        def created() -> int:
            return len(emu.emulator.records)

        kills = 0
        for attempt, mode in enumerate(modes):
            log = tmp_path / f"worker-{attempt}.log"
            kills += run_worker(emu.url, state, mode, log, created, rng.randint(5, 40)) is None
        final_log = tmp_path / "worker-final.log"
        assert run_worker(emu.url, state, "stream", final_log, created, None) == 0, final_log.read_text()
        listing = emu.emulator.listing()
    frame = load(state)
    jobs = Counter(
        r["metadata"]["rowrelay_row"] for r in listing if r["metadata"].get("rowrelay_batch") == "kill-test"
    )
    unanswered = Counter(r["metadata"]["rowrelay_row"] for r in listing if not r["answered"])
    print(f"kills={kills} orphans={frame['orphans'].sum()} paid duplicates={jobs.total() - ROWS}")
    assert kills >= 3
    assert sum(unanswered.values()) > 0, "no kill landed inside a create: orphans were not tested"
    assert len(frame) == ROWS
    assert (frame["status"] == "completed").all()
    assert set(jobs) == set(frame["row_key"])
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    completed_ids = {r["id"] for r in listing if r["status"] == "completed"}
    assert set(frame["response_id"]) <= completed_ids
