"""The commands a line advises name the batch's folder as a shell reads it back (`tasks/shell_words`): a
folder with a space or an accent in its name was named as it is, so `rowrelay status /data/team batch`
pasted from the line ran on two arguments."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from rowrelay.flows.cli_errors import state_problem
from rowrelay.flows.closing_advice import not_completed_line
from rowrelay.tasks.errors import MissingVersionsError, UsageError
from rowrelay.tasks.state.retrying import retried_statuses


def _advised(line: str) -> list[list[str]]:
    """Each `rowrelay ...` command the line quotes, as a shell would split it."""
    quoted = line.split("`")[1::2]
    return [shlex.split(command) for command in quoted if command.startswith("rowrelay ")]


def test_a_folder_a_shell_would_split_is_quoted_in_every_command_advised() -> None:
    folder = "/data/team batch/état d'avancement"
    line = not_completed_line(folder, {"failed": 2, "cancelled": 1}, bad_input=1)
    assert _advised(line) == [
        ["rowrelay", "status", folder],
        ["rowrelay", "retry", folder],
        ["rowrelay", "retry", folder, "--status", "failed,cancelled"],
    ], line
    missing = MissingVersionsError(f"{folder}/segments", "version 3 of writer w is missing")
    problem = state_problem(missing, Path(folder))
    assert _advised(problem) == [["rowrelay", "repair", folder]], problem
    with pytest.raises(UsageError) as refused:
        retried_statuses("in_progress", Path(folder))
    assert _advised(str(refused.value)) == [["rowrelay", "cancel", folder]], refused.value


def test_a_plain_folder_is_named_as_it_is() -> None:
    line = not_completed_line("/data/batches/tickets", {"failed": 2}, bad_input=0)
    assert "`rowrelay status /data/batches/tickets`" in line
    assert "`rowrelay retry /data/batches/tickets`" in line
