"""The variable an endpoints file names for its key stays out of the processes a run leaves running.

rowrelay's own key variables (`OPENAI_*`, `AZURE_OPENAI_*`, `ROWRELAY_*`) were kept out of the local
Prefect server and the warm runner a run starts; a variable named by `api_key_env` (`EAST_KEY`) was not,
and lived on in both for as long as they ran. Neither needs it: the server sends no request, and each
command the runner serves brings its own environment, its keys included, which the second run here
shows by completing on the runner against a server that takes no other key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from rowrelay.flows import warm
from rowrelay.flows.local_prefect import read_server
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.support.cli import rowrelay, run_args
from tests.support.key_echo import SECRET
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.tickets import write_tickets
from tests.support.warm import served, wait_for_runner

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    with stopped_afterwards(tmp_path / "home") as home:
        yield home


def test_an_endpoints_key_variable_is_not_left_in_the_server_or_the_warm_runner(
    tmp_path: Path, home: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu:
        endpoints = tmp_path / "endpoints.toml"
        endpoints.write_text(
            f'[[endpoints]]\nname = "east"\napi_key_env = "EAST_KEY"\nbase_url = "{emu.url}"\n'
        )
        env = environment(home, tmp_path / "client-prefect", EAST_KEY=SECRET, ROWRELAY_BACKEND="openai")
        first = rowrelay([*run_args(source, tmp_path / "a"), "--endpoints", str(endpoints)], env)
        assert first.returncode == 0, first.stderr[-3000:]  # the key was used: the emulator takes no other
        server = read_server(home)
        assert server is not None
        runner = wait_for_runner(home)
        for pid in (server.pid, int(runner["pid"])):
            environ = psutil.Process(pid).environ()
            assert "EAST_KEY" not in environ
            assert SECRET not in environ.values()
        second = rowrelay([*run_args(source, tmp_path / "b"), "--endpoints", str(endpoints)], env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert served(home), "the second run was not the runner's: nothing was shown of the key it needs"
    assert warm.runner_record(home) is not None
