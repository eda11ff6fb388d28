"""A second run of a batch started while a Dask run sends its rows is refused, and the server starts no
row's job twice: the coordinator's lease, which no row write refreshes while the shards run on the
workers, is kept alive, and a run is refused while another run's shard holds its lease live (its
coordinator killed, or silent, while its Dask tasks run on). Before, 60 s into a Dask run a second run
took the batch over as stale and sent the shards' rows again (92 jobs for 60 rows, 60 attempts)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rowrelay.tasks.state import load
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, WHEN_IT_ENDS, read_lease
from tests.support.cli import IN_PROCESS, ROOT, exit_code, rowrelay, run_args
from tests.support.dask_runs import assert_finished_and_paid_for, env_on
from tests.support.emulator_process import emulator_process
from tests.support.leases import write_lease
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@contextlib.contextmanager
def _started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        run = subprocess.Popen([*IN_PROCESS, *args], cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            yield run
        finally:
            if run.poll() is None:
                run.kill()
            run.wait()


def _shards_sending(state: Path) -> bool:
    """Whether some rows are in flight and others still wait to be sent, shards' leases held."""
    shards = list((state / "leases").glob("shard-*.json")) if (state / "leases").is_dir() else []
    if not shards or not (state / "batch.json").exists():
        return False
    with contextlib.suppress(Exception):  # a read racing a compaction: ask again
        frame = load(state)
        return bool(frame["response_id"].notna().any() and (frame["status"] == "pending").any())
    return False


def test_a_second_run_during_a_dask_run_is_refused(tmp_path: Path, prefect_env: dict[str, str]) -> None:
    rows = 8
    source = write_tickets(tmp_path / "tickets.csv", rows)
    state, log = tmp_path / "state", tmp_path / "run.log"
    # two rows in flight at a time, 5 s each: the batch takes some 20 s, most rows waiting to be sent
    with emulator_process("--latency", "fixed:5") as emu:
        env = env_on(prefect_env, emu)
        args = [*run_args(source, tmp_path), "--max-in-flight", "2"]
        with _started([*args, "--dask-workers", "2"], env, log) as first:
            deadline = time.monotonic() + 300
            while not _shards_sending(state):
                assert first.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            # The coordinator's lease as a run that never refreshed it leaves it, its heartbeat past the
            # timeout: without the shards' leases asked, the second run took the batch over.
            main = read_lease(state / "leases" / "main.json")
            assert main is not None
            assert main.pid == first.pid
            write_lease(state, replace(main, heartbeat=time.time() - LEASE_TIMEOUT - 30))
            second = rowrelay(args, env, command=IN_PROCESS)
            assert second.returncode == 2, second.stderr[-3000:]
            line = second.stderr.strip().splitlines()[-1]
            assert line.startswith(f"error: {state}: writer '"), line
            assert "' is held by a live runner (" in line, line
            assert line.endswith(WHEN_IT_ENDS), line
            assert exit_code(first, log, within=400) == 0, log.read_text()[-3000:]
        assert_finished_and_paid_for(state, emu, rows)
