"""`retry`, `cancel` and `repair` on a state folder gone read-only each say what stopped in their own
words. They said the run's: "so the run stopped; responses already sent go on on the server, and once
the folder can be written the same command resumes them", though no run was stopped and the same command
resumes nothing. The folder is a real tmpfs remounted read-only (which needs the right to mount: root, as
on the project's CI machines; elsewhere the test says why it is skipped)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from tests.support.finished_batch import finished_batch

STOPPED = {
    "retry": "so the retry stopped; rows it had not recorded keep their status, and once the folder can be "
    "written the same command makes them eligible again",
    "cancel": "so the cancel stopped; a response it cancelled on the server stays cancelled",
    "repair": "so the repair stopped; what it did before stands",
}


@pytest.fixture
def read_only_batch(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Path]:
    """A finished batch of 3 rows on a tmpfs remounted read-only; unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        state = finished_batch(emulator, disk, 3)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        yield state
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


@pytest.mark.parametrize("command", sorted(STOPPED))
def test_a_read_only_state_folder_is_said_in_the_words_of_the_command_that_met_it(
    read_only_batch: Path, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROWRELAY_HOME", str(tmp_path / "home"))
    said = CliRunner().invoke(app, [command, str(read_only_batch)])
    assert said.exit_code == 2, said.output
    lines = said.stderr.splitlines()
    assert len(lines) == 1, said.stderr
    leases = read_only_batch / "leases" / "main.json"
    assert lines[0].startswith(f"error: could not write the state table ({leases}: Read-only file system), ")
    assert STOPPED[command] in lines[0], lines[0]
    assert "run stopped" not in lines[0], lines[0]
    assert "resumes" not in lines[0], lines[0]
