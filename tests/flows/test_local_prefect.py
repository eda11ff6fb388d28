"""With no Prefect API configured, `rowrelay run` records its runs in a local Prefect server it starts once
and reuses; `rowrelay services` lists and stops it. Against real `prefect server start` processes, started
by the code under test, each stopped before the test ends (`tests/support/local_prefect.py`)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest
from typer.testing import CliRunner

from rowrelay.flows import detached, warm
from rowrelay.flows.cli import app
from rowrelay.flows.local_prefect import MARKER, PrefectTracking, answers, read_server, stop_server
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import load
from tests.support.cli import ROOT, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.tickets import TEMPLATE, write_tickets

_UI = re.compile(r"^Prefect UI: (http://127\.0\.0\.1:\d+)$", re.MULTILINE)
_STARTED = "started a Prefect server for this and later runs"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    with stopped_afterwards(tmp_path / "home") as home:
        yield home


def _batch_runs(api: str) -> dict[str, str]:
    """State type of every rowrelay batch flow run the server at `api` holds, by its state directory."""
    named = {"flows": {"name": {"any_": ["rowrelay-batch"]}}}
    runs = httpx.post(f"{api}/flow_runs/filter", json=named, timeout=30).json()
    return {run["parameters"]["state"]: run["state_type"] for run in runs}


_CALLED_FROM_PYTHON = f"""
import asyncio, sys
from rowrelay import run_batch
asyncio.run(run_batch(
    sys.argv[1], template={TEMPLATE!r}, id_column="ticket_id", state=sys.argv[2], output=sys.argv[3]
))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_runs_start_one_local_server_reuse_it_and_services_stop_it(tmp_path: Path, home: Path) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    env = environment(home, tmp_path / "client-prefect", ROWRELAY_EMULATOR_ARGS="--latency fixed:0.05")
    first = rowrelay(run_args(source, tmp_path / "a"), env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _STARTED in first.stderr
    record = read_server(home)
    assert record is not None
    assert _UI.findall(first.stderr) == [record.ui]
    assert record.url == f"{record.ui}/api"
    assert record.port < detached.ephemeral_floor()  # no outgoing connection takes it while it is down
    assert record.data == str(home / "prefect")
    assert (home / "prefect" / "prefect.db").exists()
    assert detached.runs(record.pid, MARKER)
    # Its new database came with Prefect's block types (the UI's Blocks page, notification blocks), so
    # this first start registered none.
    assert psutil.Process(record.pid).environ()["PREFECT_API_BLOCKS_REGISTER_ON_START"] == "false"
    block_types = httpx.post(f"{record.url}/block_types/filter", json={}, timeout=30).json()
    assert "slack-webhook" in {block["slug"] for block in block_types}

    second = rowrelay(run_args(source, tmp_path / "b"), env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _STARTED not in second.stderr
    assert _UI.findall(second.stderr) == [record.ui]
    assert read_server(home) == record  # the same process, port and start time

    # From Python (a script, a notebook's kernel): recorded in the same server, not an ephemeral one.
    called = [
        sys.executable,
        "-c",
        _CALLED_FROM_PYTHON,
        str(source),
        *(str(tmp_path / "c" / name) for name in ("state", "out.csv")),
    ]
    from_python = subprocess.run(called, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert from_python.returncode == 0, from_python.stderr[-3000:]
    assert _UI.findall(from_python.stderr) == [record.ui]
    assert read_server(home) == record
    assert _batch_runs(record.url) == {
        str(tmp_path / "a" / "state"): "COMPLETED",
        str(tmp_path / "b" / "state"): "COMPLETED",
        str(tmp_path / "c" / "state"): "COMPLETED",
    }

    listed = rowrelay(["services"], env)
    assert listed.returncode == 0, listed.stderr
    emulator = json.loads((home / "emulator.json").read_text())
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert rows["prefect"][1:3] == [str(record.pid), record.ui]
    assert rows["emulator"][1:3] == [str(emulator["pid"]), emulator["url"]]
    assert rows["prefect"][-1] == rows["emulator"][-1] == "yes"
    runner = warm.runner_record(home)  # the first run left it; it served the second
    assert runner is not None
    assert rows["runner"][1] == str(runner["pid"])

    stopped = rowrelay(["services", "stop"], env)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [
        f"stopped emulator (pid {emulator['pid']})",
        f"stopped prefect (pid {record.pid})",
        f"stopped runner (pid {runner['pid']})",
    ]
    assert not detached.runs(record.pid, MARKER)
    assert not answers(record.url)
    assert read_server(home) is None
    assert not (home / "emulator.json").exists()
    assert rowrelay(["services"], env).stdout == f"no services recorded in {home}\n"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_server_killed_mid_run_is_started_again_on_its_port_and_the_run_ends_recorded(
    tmp_path: Path, home: Path
) -> None:
    rows = 20
    source = write_tickets(tmp_path / "tickets.csv", rows)
    # Prefect's default level, as users run: its INFO lines are sent to the server while it is down
    env = environment(
        home,
        tmp_path / "client-prefect",
        ROWRELAY_EMULATOR_ARGS="--latency fixed:4",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    args = run_args(source, tmp_path)
    run = run_until_in_flight(args, env, tmp_path / "state", rows, tmp_path / "run.log", within=240)
    killed = read_server(home)
    assert killed is not None
    os.kill(killed.pid, signal.SIGKILL)
    try:
        # Left alone, the run's Prefect calls each retried for a minute: more than five minutes, no output.
        assert exit_code(run, tmp_path / "run.log", within=240) == 0, (tmp_path / "run.log").read_text()[
            -3000:
        ]
    finally:
        run.kill()  # a run still waiting is not left behind
        run.wait()
    said = (tmp_path / "run.log").read_text()
    again = read_server(home)
    assert again is not None
    assert (again.port, again.url) == (killed.port, killed.url)
    assert again.pid != killed.pid
    assert detached.runs(again.pid, MARKER)
    assert f"the local Prefect server (pid {killed.pid}) stopped during this run; started it again" in said
    assert f"(pid {again.pid}, log {home / 'prefect-server.log'})" in said
    # Prefect wrote "--- Error logging to API ---" and the error, with no newline, onto the console
    assert "Error logging to API" not in said, said[-3000:]
    assert said.count("did not take some of this run's log lines") <= 1, said[-3000:]  # said once, if at all
    assert set(load(tmp_path / "state")["status"]) == {"completed"}
    assert len(pd.read_csv(tmp_path / "out.csv")) == rows
    assert _batch_runs(again.url) == {str(tmp_path / "state"): "COMPLETED"}


_BEGIN = """
import json, sys
from rowrelay.flows.local_prefect import PrefectTracking
from rowrelay.tasks.settings import Settings
tracking = PrefectTracking.begin(Settings(home=sys.argv[1]))
with tracking.applied(lambda line: print(line, file=sys.stderr)):
    print(json.dumps({"pid": tracking.record.pid, "url": tracking.record.url}))
"""


def _begin(home: Path, env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen[str]:
    """A process that starts or reuses the local server under `home`, as `rowrelay run` does first."""
    command = [sys.executable, "-P", "-c", _BEGIN, str(home)]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen[str]) -> tuple[dict[str, object], str]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    found: dict[str, object] = json.loads(out)
    return found, err


def _fake_record(home: Path, pid: int) -> None:
    port = detached.free_port()
    detached.write_record(
        home / "prefect-server.json",
        {"pid": pid, "port": port, "url": f"http://127.0.0.1:{port}/api", "ui": f"http://127.0.0.1:{port}",
         "started_at": time.time() - 3600, "data": str(home / "prefect"), "log": str(home / "x.log")},
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_runs_starting_at_once_start_one_server_and_stale_records_are_replaced(
    tmp_path: Path, home: Path
) -> None:
    env = environment(home, tmp_path / "client-prefect", OPENAI_API_KEY="sk-not-for-the-server")
    # Started where a module of the user's has the name of one the server imports: the server's is.
    work = tmp_path / "work"
    work.mkdir()
    (work / "uvicorn.py").write_text("raise SystemExit('imported from the working directory')\n")
    both = [_begin(home, env, work), _begin(home, env, work)]
    (one, said_one), (two, said_two) = (_finish(process) for process in both)
    assert one == two
    assert (_STARTED in said_one) != (_STARTED in said_two)  # one started it, the other waited and reused it
    record = read_server(home)
    assert record is not None
    assert record.pid == one["pid"]
    served = psutil.Process(record.pid).environ()
    assert "OPENAI_API_KEY" not in served
    assert served["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"] == "events,flow_runs"  # old runs deleted

    # Its process gone (its pid not reused yet): replaced by a new server.
    assert stop_server(home) == record
    _fake_record(home, record.pid)
    replaced, said = _finish(_begin(home, env))
    assert _STARTED in said
    assert replaced["pid"] != record.pid
    assert answers(str(replaced["url"]))

    # Its pid now another program's (this test's own process, which lives on): replaced.
    stop_server(home)
    _fake_record(home, os.getpid())
    again, said = _finish(_begin(home, env))
    assert _STARTED in said
    assert again["pid"] != replaced["pid"]

    # A server of ours that stopped answering (hung): stopped, then replaced.
    stop_server(home)
    hung = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", MARKER], start_new_session=True
    )
    try:
        _fake_record(home, hung.pid)
        last, said = _finish(_begin(home, env))
        assert _STARTED in said
        assert hung.wait(timeout=30) != 0  # signalled by the code under test
        assert last["pid"] not in (hung.pid, again["pid"])
        assert answers(str(last["url"]))
    finally:
        hung.kill()
        hung.wait()


def test_a_configured_prefect_api_or_ephemeral_mode_starts_nothing(tmp_path: Path, prefect_api: str) -> None:
    for mode in ("local", "ephemeral"):
        tracking = PrefectTracking.begin(Settings(home=tmp_path / "home", prefect=mode))
        assert tracking.record is None
        with tracking.applied(print):
            pass
    assert not (tmp_path / "home").exists()


def _refused_with(api: str, tmp_path: Path, home: Path) -> list[str]:
    """What a 3-row run configured with the Prefect API `api` says on stderr; it must exit 2 having made
    no state."""
    env = environment(home, tmp_path / "client-prefect", PREFECT_API_URL=api)
    refused = rowrelay(run_args(write_tickets(tmp_path / "tickets.csv", 3), tmp_path), env)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert not (tmp_path / "state").exists()
    return refused.stderr.splitlines()


def test_a_configured_prefect_api_that_cannot_be_reached_is_refused_before_anything_starts(
    tmp_path: Path, home: Path, dark_address: str
) -> None:
    api = f"{dark_address}/api"  # nothing listens there
    assert _refused_with(api, tmp_path, home) == [
        f"error: the Prefect API this run is configured to record in, {api}, cannot be reached ([Errno 111] "
        "Connection refused); start that server, or point PREFECT_API_URL at one that runs (with none "
        "configured, rowrelay records runs in a Prefect server of its own); nothing was sent"
    ]
    assert not home.exists()  # no emulator started for it, nor a local Prefect server


def test_a_configured_address_that_is_no_prefect_api_is_refused_in_one_line(
    tmp_path: Path, home: Path, prefect_env: dict[str, str]
) -> None:
    ui = prefect_env["PREFECT_API_URL"].removesuffix("/api")  # a real server's UI address: the usual slip
    assert _refused_with(ui, tmp_path, home) == [
        f"error: {ui} does not answer as a Prefect API (GET /admin/version: 404 Not Found); PREFECT_API_URL "
        "names the API, which ends in /api (`rowrelay services` shows the local server's); nothing was sent"
    ]


def test_services_with_nothing_recorded_and_an_unknown_name(tmp_path: Path) -> None:
    env = {"ROWRELAY_HOME": str(tmp_path)}
    listed = CliRunner().invoke(app, ["services"], env=env)
    assert (listed.exit_code, listed.stdout) == (0, f"no services recorded in {tmp_path}\n")
    stopped = CliRunner().invoke(app, ["services", "stop"], env=env)
    assert (stopped.exit_code, stopped.stdout) == (
        0,
        "emulator: not running\nprefect: not running\nrunner: not running\n",
    )
    unknown = CliRunner().invoke(app, ["services", "stop", "redis"], env=env)
    assert unknown.exit_code == 2
    assert unknown.stderr == "error: no service named 'redis' (the services are emulator, prefect, runner)\n"
