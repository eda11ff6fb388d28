"""A run notes its use of the services it will need (flows/service_users.announced) so that `rowrelay
services stop` in its first seconds is refused; a home it cannot note that in must not stop the run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from rowrelay.flows.service_users import announced, announced_users


def test_a_run_is_announced_while_it_goes_and_not_after(tmp_path: Path) -> None:
    with announced(tmp_path, ["emulator", "prefect"]):
        users = announced_users(tmp_path)
        assert set(users) == {"emulator", "prefect"}
    assert announced_users(tmp_path) == {}


def test_a_home_the_run_cannot_note_its_use_in_is_one_warning_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A home this user may read but not write (services another user started, a home shared read-only)
    raised a bare PermissionError at the run's start; here the folder the notes go in is a file."""
    (tmp_path / "in-use").write_text("")
    ran = False
    with caplog.at_level(logging.WARNING, logger="rowrelay.services"), announced(tmp_path, ["emulator"]):
        ran = True
    assert ran
    [record] = [r for r in caplog.records if r.name == "rowrelay.services"]
    assert "cannot note this run's use of the services" in record.getMessage()


def test_a_first_run_is_announced_in_a_home_made_for_it_and_gone_if_it_started_nothing(
    tmp_path: Path,
) -> None:
    """A machine's first run (no home yet) announced nothing, so a stop once it had started the services
    did not see it; refused in its first seconds, it must still leave no home behind (nothing to stop)."""
    home = tmp_path / "home"
    with announced(home, ["emulator"]):
        assert announced_users(home) == {"emulator": [os.getpid()]}
    assert not home.exists()

    with announced(home, ["emulator"]):
        (home / "emulator.json").write_text("{}")  # the run started a service: its home is kept
    assert (home / "emulator.json").exists()
    assert announced_users(home) == {}


def test_a_run_announced_twice_in_one_process_holds_one_announcement(tmp_path: Path) -> None:
    """A `rowrelay run` announces itself, then its flow body (`run_batch`) does: a second flock of the same
    file from the process waited on the first for ever."""
    with announced(tmp_path, ["emulator"]), announced(tmp_path, ["emulator"]):
        assert announced_users(tmp_path) == {"emulator": [os.getpid()]}
    assert announced_users(tmp_path) == {}


def test_two_runs_at_once_in_one_process_stay_announced_until_the_last_ends(tmp_path: Path) -> None:
    """Two batches gathered in one notebook: the first to end took the process's one announcement with it,
    and a stop then took the services from under the second's in-flight rows."""
    first, second = announced(tmp_path, ["emulator"]), announced(tmp_path, ["emulator"])
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert announced_users(tmp_path) == {"emulator": [os.getpid()]}
    second.__exit__(None, None, None)
    assert announced_users(tmp_path) == {}
