"""`-v/--verbose` after the command means what it means before it: users put it last
(`rowrelay run tickets.csv ... -v`), and every command refused that ("No such option: -v", exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.emulator import running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.local_prefect import stopped_afterwards
from tests.support.tickets import write_tickets


def test_a_run_with_v_last_shows_the_info_logs_and_sends_each_row_once(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    with running_emulator() as emu, stopped_afterwards(tmp_path / "home") as home:
        # A home of its own: a runner for this import-time environment would replace the session's.
        env = env_for(prefect_env, emu, ROWRELAY_HOME=str(home))
        env.pop("PREFECT_LOGGING_LEVEL")  # what a user's shell has: the CLI decides what Prefect prints
        ran = rowrelay([*run_args(source, tmp_path), "-v"], env)
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert "INFO prefect" in ran.stderr  # Prefect's lines, shown only with --verbose
        assert "INFO rowrelay" in ran.stderr
        assert_every_job_is_paid_for(load(tmp_path / "state"), *jobs_of(emu.url))


@pytest.mark.parametrize(
    "args",
    [
        ["services", "-v"],
        ["services", "stop", "--verbose"],
        ["services", "stop", "emulator", "-v"],
        ["status", "{state}", "-v"],
        ["-v", "status", "{state}", "-v"],
    ],
)
def test_every_command_takes_v_after_its_name(tmp_path: Path, args: list[str]) -> None:
    state = tmp_path / "no-batch"
    env = {"ROWRELAY_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    done = rowrelay([arg.format(state=state) for arg in args], env)
    assert "No such option" not in done.stderr, done.stderr
    if args[-2:] == ["{state}", "-v"]:  # refused for what the path is, not for the option
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: {state} does not exist (no batch's state is there"), (
            done.stderr
        )
    else:
        assert done.returncode == 0, done.stderr
