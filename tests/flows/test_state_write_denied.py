"""A batch folder this user may not write (a batch made by another user, or by root) is said as such when
a command takes its lease, in one line, exit 2, with the way on: it was the run-stopping `StateWriteError`
("could not write the state table (...: Permission denied), so the run stopped; responses already sent go
on on the server ..."), which read oddly from `retry` or `repair`, and on a first run, that had stopped
nothing. Run as a user the file modes bind (tests/support/unprivileged.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.state.files import LEASES
from tests.support.cli import INSTALLED, rowrelay
from tests.support.damage import planned_batch
from tests.support.unprivileged import unprivileged


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A planned batch's state directory; every mode set back afterwards, so it can be removed."""
    _, directory, _ = planned_batch(tmp_path)
    yield directory
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.parametrize("command", ["retry", "cancel", "repair"])
def test_a_lease_folder_this_user_may_not_write_is_said_with_the_way_on(state: Path, command: str) -> None:
    folder = state / LEASES
    for lease_file in folder.iterdir():
        lease_file.chmod(0o444)
    folder.chmod(0o555)
    before = {path: path.read_bytes() for path in state.rglob("*") if path.is_file()}
    result = rowrelay([command, str(state)], dict(os.environ), command=unprivileged(INSTALLED))
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"error: cannot write the state folder {folder}: Permission denied; nothing was changed: let this "
        "user write the batch's folder (or run as the user who owns it), then run the same command again\n"
    )
    assert {path: path.read_bytes() for path in state.rglob("*") if path.is_file()} == before
