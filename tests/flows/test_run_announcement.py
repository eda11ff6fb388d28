"""A run notes its use of the services it will need (flows/service_users.announced) so that `rowrelay
services stop` in its first seconds is refused; a home it cannot note that in must not stop the run."""

from __future__ import annotations

import logging
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
