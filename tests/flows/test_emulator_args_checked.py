"""A bad `ROWRELAY_EMULATOR_ARGS` is refused before anything starts, in the emulator's own words; and an
embedded emulator that fails to start all the same says why and where its log is. Before, `run` contacted
Prefect, then said "the embedded emulator did not start (it said ''); see its emulator.log", the reason
(`No such option: --bogus`) in a log it named without a path."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.flows.embedded import ensure_emulator
from rowrelay.tasks.errors import UsageError
from tests.support.tickets import TEMPLATE, write_tickets


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ("--bogus 1", "No such option: --bogus"),
        ("--store-policy never", "Invalid value for --store-policy: expected legacy or current"),
        ("--latency 'fixed:1", "cannot be split as a command line"),
    ],
)
def test_a_bad_emulator_option_is_refused_before_anything_starts(
    tmp_path: Path, args: str, said: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 2)
    home = tmp_path / "home"
    env = {"ROWRELAY_EMULATOR_ARGS": args, "ROWRELAY_HOME": str(home)}
    command = ["run", str(source), "--template", TEMPLATE, "--state", str(tmp_path / "state")]
    result = CliRunner().invoke(app, command, env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ROWRELAY_EMULATOR_ARGS: the embedded emulator would refuse "), (
        result.stderr
    )
    assert said in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Prefect" not in result.output
    assert not (home / "emulator.json").exists()
    assert not (tmp_path / "state").exists()


def test_an_emulator_that_fails_to_start_says_why_and_where_its_log_is(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        ensure_emulator(tmp_path, "--bogus 1")  # as a run would if the options were not checked first
    said = str(caught.value)
    assert said.startswith("the embedded emulator did not start (it said 'No such option: --bogus"), said
    assert said.endswith(f"; see {tmp_path / 'emulator.log'})"), said
