"""A run that ends having made a rowrelay home and started nothing there removes the home with its lock
file (`in-use.lock`), so a run refused in its first seconds leaves no trace (c6debe7). Another process
may hold that lock file open, waiting to lock it, as it is removed: it then locked a file nobody else
could open, and announced nothing (its home gone) or, had the home been made again, a later `services
stop` locked another file, and the two excluded nothing. The waiter now finds the file it locked gone
and takes the one at the lock's path, making the home again to announce. Sequenced by the kernel's own
list of waiting locks, not by time: one announcement ends while another is seen waiting on its lock."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rowrelay.flows.service_users import announced, announced_users

_HANG = 60.0
"""Seconds after which a wait that should end at once is a hang (no assertion rests on it)."""


def _someone_waits_on(lock: Path) -> bool:
    """Whether a process waits to flock the file at `lock` (`/proc/locks`: `N: -> FLOCK ... dev:inode`)."""
    inode = f":{lock.stat().st_ino} "
    return any(
        " -> FLOCK " in line and inode in line for line in Path("/proc/locks").read_text().splitlines()
    )


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _HANG
    while not condition():
        assert time.monotonic() < deadline, "hung"
        time.sleep(0.01)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="the kernel's list of locks is read")
def test_a_run_waiting_on_the_lock_of_a_home_removed_as_unused_announces_in_the_home_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    lock = home / "in-use.lock"
    announcing, ending = threading.Event(), threading.Event()

    def second_run() -> None:  # a run in another process, as far as flock is concerned: its own open file
        with announced(home, ["prefect"]):
            announcing.set()
            ending.wait(_HANG)

    second = threading.Thread(target=second_run)
    rmdir = Path.rmdir

    def removing(path: Path) -> None:  # the first run's end, holding the lock, as it removes its home
        if path == home / "in-use" and not second.is_alive():
            second.start()
            _until(lambda: _someone_waits_on(lock))  # the second run waits on the lock about to go
        rmdir(path)

    monkeypatch.setattr(Path, "rmdir", removing)
    with announced(home, ["emulator"]):  # the machine's first run: the home is made for it
        pass
    _until(announcing.is_set)
    try:
        assert announced_users(home) == {"prefect": [os.getpid()]}  # seen by a stop: its services kept
        assert lock.exists()  # the lock a stop takes is the file the run announced under
    finally:
        ending.set()
        second.join(_HANG)
    assert not home.exists()  # it started nothing either: no trace left
