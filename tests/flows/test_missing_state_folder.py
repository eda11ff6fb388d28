"""A state folder that does not exist is said so by every command that reads one: `status`, `export`,
`cancel`, `retry` and `repair` said it "is not a rowrelay state directory (no batch.json)", which sent the
user looking for a file in a folder that was never there. An existing folder without a batch keeps those
words (tests/flows/test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app


@pytest.mark.parametrize("command", ["status", "export", "cancel", "retry", "repair"])
def test_a_state_folder_that_does_not_exist_is_said_so(tmp_path: Path, command: str) -> None:
    state = tmp_path / "nonexistent"
    result = CliRunner().invoke(app, [command, str(state)], env={"ROWRELAY_HOME": str(tmp_path / "home")})
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {state} does not exist (no batch's state is there: a run prints its folder as `state:`)\n",
    ), result.output
    assert not state.exists()
