"""An API key never leaves the process that uses it: not in what `rowrelay run` prints, not in the state
table, the outputs, the Prefect artifacts, the flow-run logs the Prefect server stores, nor in a
deployment's parameters.

Each run is the real CLI in its own process, its key in the environment the way users set it, against
the emulator over a real socket; the Prefect records are read from the test's Prefect server through
its API (and, as a catch-all, from the server's database file). Every place is checked for a fragment
of the key that a masked print (`sk-test-****4321`) would not show, so a partial leak fails too.

The runs cover the paths on which a key is most at risk: a run that uses it (so it was read), a run the
server refuses with 401 (one line naming the refusal is printed), a run whose rows crash (rowrelay
logs each with `log.exception`), the Azure key on a run the server refuses, and `rowrelay deploy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.llm.agent_factories import CRASH
from tests.support.cli import ROOT, rowrelay, run_args
from tests.support.leaks import every_log_record, files_holding
from tests.support.local_prefect import stopped_afterwards
from tests.support.prefect_records import artifacts_of, flow_run_on, logs_of
from tests.support.tickets import TEMPLATE, write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SECRET = "sk-test-SECRET-xyz-5e1f0c9a7b3d4321"
FRAGMENT = SECRET[8:-4]
"""The part of the key a masked print (`sk-test-****4321`) hides: found anywhere, the key leaked."""
OTHER_KEY = "sk-the-key-the-server-expects"
KEY_VARIABLES = (
    "OPENAI_API_KEY", "ROWRELAY_API_KEY", "AZURE_OPENAI_API_KEY", "ROWRELAY_AZURE_API_KEY",
    "OPENAI_BASE_URL", "ROWRELAY_BASE_URL", "AZURE_OPENAI_ENDPOINT", "ROWRELAY_AZURE_ENDPOINT",
    "ROWRELAY_BACKEND",
)  # fmt: skip
ROWS = 4


@pytest.fixture(autouse=True)
def _home_left_stopped(tmp_path: Path) -> Iterator[None]:
    """The tests' runs give rowrelay the home tmp_path/home (`cli_env`), where a run leaves its warm
    runner (started with the key in its environment: `holding_the_key(tmp_path)` reads its log too)."""
    with stopped_afterwards(tmp_path / "home"):
        yield


def cli_env(prefect_env: dict[str, str], home: Path, **settings: str) -> dict[str, str]:
    """The Prefect environment with no key but the test's, Prefect's loggers at INFO: the server's stored
    logs hold everything rowrelay logs (a batch's run sends rowrelay's records there itself:
    flows/run_logs.py)."""
    env = {name: value for name, value in prefect_env.items() if name not in KEY_VARIABLES}
    return {
        **env,
        "ROWRELAY_HOME": str(home),
        "PREFECT_LOGGING_LEVEL": "INFO",
        **settings,
    }


def openai_env(
    prefect_env: dict[str, str], home: Path, emu: RunningEmulator, variable: str
) -> dict[str, str]:
    """A run against an OpenAI-compatible server (the emulator) with the key in `variable`."""
    return cli_env(
        prefect_env, home, ROWRELAY_BACKEND="openai", OPENAI_BASE_URL=emu.url, **{variable: SECRET}
    )


def run_cli(directory: Path, env: dict[str, str], *extra: str) -> CompletedProcess[str]:
    """`rowrelay -v run` (info logs on) over a few tickets, state and output under `directory`."""
    directory.mkdir()
    source = write_tickets(directory / "tickets.csv", ROWS)
    return rowrelay(["-v", *run_args(source, directory), *extra], env)


def holding_the_key(root: Path) -> list[str]:
    return files_holding(root, FRAGMENT)


def state_files(state: Path) -> list[str]:
    return sorted(p.suffix for p in state.rglob("*") if p.suffix in (".parquet", ".json"))


async def nothing_in_prefect(state: Path, prefect_env: dict[str, str]) -> list[str]:
    """The run's flow-run record, artifacts and stored logs (checked to exist: a check of nothing
    passes), and every file of the Prefect server's home, its database above all; returns the logs."""
    run = await flow_run_on(state)
    assert FRAGMENT not in run.model_dump_json()
    artifacts = await artifacts_of(run.id)
    assert artifacts, "the run published no artifact: nothing was checked"
    assert [a.key for a in artifacts if FRAGMENT in a.model_dump_json()] == []
    logs = [log.message for log in await logs_of(run.id)]
    assert logs, "the server stored no log of the run: nothing was checked"
    assert [message for message in logs if FRAGMENT in message] == []
    assert holding_the_key(Path(prefect_env["PREFECT_HOME"])) == []
    return logs


def printed(result: CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.mark.parametrize("variable", ["OPENAI_API_KEY", "ROWRELAY_API_KEY"])
async def test_a_run_that_uses_the_key_writes_it_nowhere(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, variable: str
) -> None:
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu:
        result = run_cli(tmp_path / "run", openai_env(prefect_env, tmp_path / "home", emu, variable))
    assert result.returncode == 0, result.stderr[-3000:]  # the key was used: the emulator refuses any other
    assert FRAGMENT not in printed(result)
    assert holding_the_key(tmp_path) == []
    assert state_files(tmp_path / "run" / "state").count(".parquet") >= 1
    assert ".json" in state_files(tmp_path / "run" / "state")
    logs = await nothing_in_prefect(tmp_path / "run" / "state", prefect_env)
    assert any(message.startswith("batch state finished:") for message in logs)  # rowrelay's own


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_a_run_from_python_writes_the_key_nowhere(
    prefect_env: dict[str, str],
    prefect_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """`run_batch` called in-process, as from a notebook: its logs are this process's, every logger's
    down to DEBUG (on the SDK's transport, the SDK's and httpx's request logs included; on the lean
    one, tasks/llm/wire.py, the SDK makes no request to log, and aiohttp's loggers are captured too)."""
    from rowrelay.flows.batch import run_batch

    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # read the way users set it: the SDK's own variable
    monkeypatch.setenv("ROWRELAY_TRANSPORT", transport)
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu, every_log_record() as logged:
        state = await run_batch(
            str(source), template=TEMPLATE, id_column="ticket_id", state=str(tmp_path / "state"),
            output=str(tmp_path / "out.jsonl"), backend="openai", base_url=emu.url, return_state=True,
        )  # fmt: skip
    result = await state.aresult()
    assert result.counts["completed"] == ROWS  # the key was used: the emulator refuses any other
    assert any(line.startswith("rowrelay.flow INFO batch") for line in logged)  # rowrelay's own logs
    if transport == "sdk":
        assert any(line.startswith("openai") for line in logged)  # the SDK's request logs
    assert any(line.startswith("prefect.flow_runs") for line in logged)  # Prefect's flow-run logs
    assert [line for line in logged if FRAGMENT in line] == []
    assert FRAGMENT not in repr(result)
    assert holding_the_key(tmp_path) == []
    run = await flow_run_on(tmp_path / "state")
    assert run.id == state.state_details.flow_run_id
    from prefect.logging.handlers import APILogHandler

    await APILogHandler.aflush()  # a run in this process sends its logs to the server in the background
    await nothing_in_prefect(tmp_path / "state", prefect_env)


async def test_a_run_refused_with_401_prints_the_servers_error_but_not_the_key(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    with running_emulator(EmulatorConfig(api_key=OTHER_KEY)) as emu:
        env = openai_env(prefect_env, tmp_path / "home", emu, "OPENAI_API_KEY")
        result = run_cli(tmp_path / "run", env)
        refused = emu.emulator.status_codes[401]
    assert result.returncode == 2  # the user's to fix, like a bad option
    assert refused >= 1
    # The 401 path ends with rowrelay's one line (Prefect's own console log still shows the task's
    # traceback above it: that is Prefect's logging, tracked for the run-logs work).
    assert "refused our credentials" in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(said) == 1
    assert said[0].startswith("error: the backend refused this batch, so the run stopped")
    assert FRAGMENT not in printed(result)
    assert holding_the_key(tmp_path) == []
    logs = await nothing_in_prefect(tmp_path / "run" / "state", prefect_env)
    assert any("refused our credentials" in message for message in logs)


async def test_rows_that_crash_are_logged_with_their_traceback_but_not_the_key(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu:
        env = openai_env(prefect_env, tmp_path / "home", emu, "ROWRELAY_API_KEY")
        result = run_cli(tmp_path / "run", env, "--agent", "tests.llm.agent_factories:crashing_agent")
    assert result.returncode == 1, result.stderr[-3000:]  # every row failed; the run itself finished
    assert result.stderr.count("crashed") >= ROWS  # rowrelay's log.exception, once a row
    assert CRASH in result.stderr
    assert FRAGMENT not in printed(result)
    assert holding_the_key(tmp_path) == []
    logs = await nothing_in_prefect(tmp_path / "run" / "state", prefect_env)
    # rowrelay's log of each crash ("row r1 crashed"); the closing summary quotes a row's error ("the row
    # crashed while its create was on its way (...)"), which has no traceback to carry. The first crash
    # of its kind carries its traceback; the others, alike, are one line naming it (run.crashed_alike).
    crashes = [message for message in logs if re.match(r"row \S+ crashed", message)]
    assert len(crashes) >= ROWS
    assert all(CRASH in message for message in crashes)
    assert "Traceback" in crashes[0]
    assert all(" crashed as row " in message and "Traceback" not in message for message in crashes[1:])


async def test_the_azure_key_is_written_nowhere_either(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    """Azure takes its key in `api-key`: a whole run on the emulator's Azure routes (which refuse any
    other key, with Azure's 401) completes, and the key is nowhere on disk, in Prefect or in the output."""
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu:
        env = cli_env(
            prefect_env, tmp_path / "home", ROWRELAY_BACKEND="azure",
            AZURE_OPENAI_ENDPOINT=emu.url.removesuffix("/v1"), AZURE_OPENAI_API_KEY=SECRET,
        )  # fmt: skip
        result = run_cli(tmp_path / "run", env)
        routes = emu.emulator.stats()["routes"]
    assert result.returncode == 0, result.stderr[-3000:]  # the key was used: the emulator refuses any other
    assert routes.get("POST /openai/responses") == ROWS
    assert "POST /v1/responses" not in routes
    assert FRAGMENT not in printed(result)
    assert holding_the_key(tmp_path) == []
    logs = await nothing_in_prefect(tmp_path / "run" / "state", prefect_env)
    assert any(message.startswith("batch state finished:") for message in logs)


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`rowrelay deploy` serving in its own process until the block ends, its output in `log`."""
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            yield server
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


async def test_a_deployment_stores_no_key_in_its_parameters(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    env = cli_env(
        prefect_env, tmp_path / "home", OPENAI_API_KEY=SECRET, AZURE_OPENAI_API_KEY=SECRET,
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )  # fmt: skip
    command = [
        sys.executable, "-P", "-m", "rowrelay.flows.cli", "-v", "deploy", str(source), "--cron", "0 3 * * *",
        "--name", "secrets", "--template", TEMPLATE, "--id-column", "ticket_id",
        "--state", str(tmp_path / "state"),
    ]  # fmt: skip
    log = tmp_path / "serve.log"
    with serving(command, env, log) as server:
        deadline = time.monotonic() + 120
        async with get_client() as client:
            while True:
                try:
                    deployment = await client.read_deployment_by_name("rowrelay-batch/secrets")
                    break
                except ObjectNotFound:
                    assert server.poll() is None, log.read_text()[-3000:]
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    await asyncio.sleep(0.5)
    assert deployment.parameters["template"] == TEMPLATE  # the deployment this test served
    assert deployment.parameters["state"] == str(tmp_path / "state")
    assert FRAGMENT not in json.dumps(deployment.parameters)
    assert FRAGMENT not in deployment.model_dump_json()
    assert holding_the_key(tmp_path) == []  # its own output (serve.log) included
    assert holding_the_key(Path(prefect_env["PREFECT_HOME"])) == []
