"""A state table whose disk fills mid-run: the run stops at once with one line (not a traceback per row),
and once there is room the same command finishes the batch, every job on the server paid for once or
counted. The disk is a real tmpfs of a few hundred kilobytes, mounted for the test (which needs the
right to mount: root, as on the project's CI machines; elsewhere the test says why it is skipped)."""

from __future__ import annotations

import contextlib
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from rowrelay.tasks.state.lease import Lease
from rowrelay.tasks.state_folder_errors import StateWriteError
from tests.support.cli import env_for, rowrelay
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.tickets import TEMPLATE, write_tickets

pytestmark = pytest.mark.timeout(600)
ROWS = 400


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 120 KB tmpfs, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=120k", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_stops_the_run_in_one_line_and_the_same_command_finishes_once_there_is_room(
    tmp_path: Path, small_disk: Path, emulator: RunningEmulator, prefect_env: dict[str, str]
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state = small_disk / "state"
    args = ["run", str(source), "--template", TEMPLATE, "--id-column", "ticket_id", "--state", str(state),
            "--output", str(tmp_path / "out.csv")]  # fmt: skip
    env = env_for(prefect_env, emulator)

    full = rowrelay(args, env)
    assert full.returncode == 2, full.stderr[-3000:]
    assert "Traceback" not in full.stderr, full.stderr[-3000:]
    assert "crashed" not in full.stderr, full.stderr[-3000:]  # no row blamed for the disk
    last = full.stderr.splitlines()[-1]
    assert last.startswith(f"error: could not write the state table ({state / 'segments'}/"), last
    assert "No space left on device), so the run stopped;" in last
    assert "the same command resumes them" in last
    assert not (tmp_path / "out.csv").exists()
    assert len(emulator.emulator.jobs_listing()) < ROWS  # it stopped part way

    subprocess.run(["mount", "-o", "remount,size=50m", str(small_disk)], check=True)
    resumed = rowrelay(args, env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    frame = load(state)
    assert len(frame) == ROWS
    assert set(frame["status"]) == {"completed"}
    listing = emulator.emulator.jobs_listing()
    jobs = Counter(job["metadata"]["rowrelay_row"] for job in listing)
    unanswered = Counter(job["metadata"]["rowrelay_row"] for job in listing if not job["answered"])
    assert_every_job_is_paid_for(frame, jobs, unanswered)


def test_a_lease_heartbeat_on_a_full_disk_is_the_runs_error_naming_its_file(small_disk: Path) -> None:
    """The heartbeat writes between segments (`StateTable.commit`), so it may meet the full disk first."""
    lease = Lease.acquire(small_disk, "main", timeout=60.0, clock=lambda: 0.0)
    with (small_disk / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"x" * 4096)
    with pytest.raises(StateWriteError, match=r"leases/main\.json: No space left on device\), so the run"):
        lease.heartbeat()
