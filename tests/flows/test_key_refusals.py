"""`rowrelay run` refuses a key it could not send, before anything starts: exit 2, one line naming the
variable, the key nowhere in what it prints, no state directory, no request to the server.

A key pasted from a file keeps its line break. Before, the run started, every create failed in the HTTP
client (`ValueError: Forbidden control character detected in headers`), each row was recorded failed as
a crash of rowrelay's, and the run exited 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from tests.support.cli import rowrelay, run_args
from tests.support.key_echo import FRAGMENT, SECRET
from tests.support.local_prefect import stopped_afterwards
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.timeout(300)]

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ROWRELAY_API_KEY",
    "OPENAI_BASE_URL",
    "ROWRELAY_BASE_URL",
    "ROWRELAY_BACKEND",
)


@pytest.fixture(autouse=True)
def _home_left_stopped(tmp_path: Path) -> Iterator[None]:
    with stopped_afterwards(tmp_path / "home"):  # a warm runner an earlier run of the home left
        yield


def refused(tmp_path: Path, env: dict[str, str], *options: str) -> str:
    """The one line `rowrelay run` says as it refuses the batch (checked: exit 2, nothing else said, no
    state directory made)."""
    source = write_tickets(tmp_path / "tickets.csv", 3)
    result = rowrelay([*run_args(source, tmp_path), *options], env)
    assert result.returncode == 2, result.stderr[-3000:]
    said = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(said) == 1, result.stderr
    assert FRAGMENT not in result.stdout + result.stderr
    assert not (tmp_path / "state").exists()
    return said[0]


def cli_env(prefect_env: dict[str, str], tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {name: value for name, value in prefect_env.items() if name not in KEY_VARIABLES}
    return {**env, "ROWRELAY_HOME": str(tmp_path / "home"), **variables}


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_key_with_a_line_break_is_refused_before_the_run(
    prefect_env: dict[str, str], tmp_path: Path, emulator: RunningEmulator, ending: str
) -> None:
    env = cli_env(prefect_env, tmp_path, OPENAI_API_KEY=SECRET + ending)
    line = refused(tmp_path, env, "--backend", "openai", "--base-url", emulator.url)
    assert line.startswith("error: OPENAI_API_KEY holds a line break, which cannot be sent")
    assert emulator.emulator.stats()["routes"] == {}  # nothing was sent


def test_an_endpoints_key_with_a_line_break_is_refused_before_the_run(
    prefect_env: dict[str, str], tmp_path: Path, emulator: RunningEmulator
) -> None:
    endpoints = tmp_path / "endpoints.toml"
    endpoints.write_text(
        f'[[endpoints]]\nname = "east"\napi_key_env = "EAST_KEY"\nbase_url = "{emulator.url}"\n'
    )
    env = cli_env(prefect_env, tmp_path, EAST_KEY=SECRET + "\r\n")
    line = refused(tmp_path, env, "--backend", "openai", "--endpoints", str(endpoints))
    assert line == (
        f"error: --endpoints {endpoints}: endpoint 'east': EAST_KEY holds a line break, which cannot be sent "
        "in a request's header (a key pasted from a file keeps its newline): set it to the key alone"
    )
    assert emulator.emulator.stats()["routes"] == {}
