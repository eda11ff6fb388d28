"""`python -m rowrelay.tasks.emulator` and `rowrelay emulator`: announce the URL, serve, exit cleanly."""

from __future__ import annotations

import asyncio
import re
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import httpx
import pytest
import typer
from typer.testing import CliRunner

from rowrelay.tasks.emulator import EmulatorConfig, server
from rowrelay.tasks.emulator.cli import emulator
from rowrelay.tasks.llm.open_files import make_room_for

ROOT = Path(__file__).resolve().parents[2]
MODULE = [sys.executable, "-P", "-m", "rowrelay.tasks.emulator"]
SCRIPT = [str(Path(sys.executable).parent / "rowrelay"), "emulator"]
_APP = typer.Typer()
_APP.command()(emulator)


def start(
    command: list[str], latency: str = "fixed:0", open_files: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    """The command serving on a free port; `open_files`: the soft open-file limit it starts with."""

    def limited() -> None:
        if open_files is not None:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
            )

    process = subprocess.Popen(
        [*command, "--port", "0", "--latency", latency],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limited,
    )
    assert process.stdout is not None
    first = process.stdout.readline().rstrip("\n")
    match = re.fullmatch(r"rowrelay emulator listening on (http://127\.0\.0\.1:(\d+)/v1)", first)
    if match is None:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"first line {first!r}; stderr {err!r}")
    assert int(match.group(2)) > 0
    return process, match.group(1)


def test_cli_serves_and_exits_cleanly_on_sigterm_and_sigint() -> None:
    """Both signals through `python -m`, and the `rowrelay` script, side by side to keep the suite fast.

    The script gets one signal only: it imports the whole flows package (Prefect), which takes seconds."""
    cases = [(MODULE, signal.SIGTERM), (MODULE, signal.SIGINT), (SCRIPT, signal.SIGINT)]
    processes: list[tuple[subprocess.Popen[str], str]] = []
    try:
        for command, _ in cases:
            processes.append(start(command))
        for process, url in processes:
            reply = httpx.post(f"{url}/responses", json={"model": "o3", "input": "hi"}, timeout=30)
            assert reply.status_code == 200
            assert reply.json()["status"] == "completed"
            assert process.poll() is None
        for (process, _), (_, signum) in zip(processes, cases, strict=True):
            process.send_signal(signum)
        for (process, _), (command, signum) in zip(processes, cases, strict=True):
            _, err = process.communicate(timeout=30)
            assert process.returncode == 0, (command[-1], signum, err)
            assert "Traceback" not in err, err
    finally:
        for process, _ in processes:  # whatever failed above, leave no server behind
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--latency", "bogus"], "latency 'bogus'"),
        (["--latency", "uniform:2,1"], "0 <= A <= B"),
        (["--fail-rate", "2"], "Invalid value for --fail-rate: must be between 0 and 1"),
        (["--hang-rate", "2"], "Invalid value for --hang-rate: must be between 0 and 1"),
        (["--gateway-error-rate", "-0.5"], "Invalid value for --gateway-error-rate: must be between 0 and 1"),
        (["--stream-cut-rate", "1.01"], "Invalid value for --stream-cut-rate: must be between 0 and 1"),
        (["--empty-stream-rate", "3"], "Invalid value for --empty-stream-rate: must be between 0 and 1"),
        (["--skip-created-rate", "-1"], "Invalid value for --skip-created-rate: must be between 0 and 1"),
        (["--hang-rate", "often"], "Invalid value for '--hang-rate'"),
        (["--output-tokens", "x"], "expected A,B"),
        (["--store-policy", "sometimes"], "expected legacy or current"),
        (["--error-shape", "round"], "expected nested or flat"),
        (["--rpm", "0"], "Invalid value for --rpm: must be at least 1"),
        (["--replicas", "0"], "Invalid value for --replicas: must be at least 1"),
        (["--cancel-refusal", "500"], "Invalid value for --cancel-refusal: must be 400 or 405"),
        (["--down-for", "-1"], "Invalid value for --down-for: must not be negative"),
        (["--rate-window", "100"], "Invalid value for --rate-window: must be in (0, 60] seconds"),
        (["--background-refusal", "sometimes"], "expected none, param or unnamed"),
        (
            ["--models", "gpt-4.1-mini,,o3"],
            "Invalid value for --models: must name at least one model, none of them blank",
        ),
        (["--port", "http"], "Invalid value for '--port'"),
        (["--port", "99999"], "less than or equal to 65535"),  # these four were tracebacks, exit 1
        (["--log-level", "nope"], "expected one of critical, error, warning, info, debug, trace"),
        (["--host", "999.1.1.1"], "cannot listen on 999.1.1.1:0"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(option: list[str], message: str) -> None:
    """In process through typer's runner (fast); one real process below proves the exit code."""
    result = CliRunner().invoke(_APP, option)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())


def test_a_port_in_use_exits_2_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(_APP, ["--port", str(port)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.replace("│", " ").split())
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in said


def test_network_fault_rates_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[EmulatorConfig] = []
    # the command imports `serve` when it runs (so that building the CLI skips uvicorn): patched at home
    monkeypatch.setattr(server, "serve", lambda config, *args, **kwargs: served.append(config))
    options = {
        "--gateway-error-rate": 0.1,
        "--hang-rate": 0.2,
        "--stream-cut-rate": 0.3,
        "--empty-stream-rate": 0.4,
        "--skip-created-rate": 1.0,
    }
    result = CliRunner().invoke(_APP, [str(part) for pair in options.items() for part in pair])
    assert result.exit_code == 0, result.output
    [config] = served
    got = (
        config.gateway_error_rate,
        config.hang_rate,
        config.stream_cut_rate,
        config.empty_stream_rate,
        config.skip_created_rate,
    )
    assert got == tuple(options.values())
    assert EmulatorConfig().hang_rate == 0.0, "off unless asked for"


def test_bad_option_in_a_real_process() -> None:
    done = subprocess.run([*MODULE, "--fail-rate", "2"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Invalid value for --fail-rate: must be between 0 and 1" in done.stderr
    assert done.stdout == ""


def test_a_served_emulator_makes_no_full_collection_while_1500_streams_run() -> None:
    """Its own process keeps the collector to the young generations (`tasks/emulator/heap.py`). A full
    collection walks every stream in flight and stops them all, late to their clients. At Python's
    default thresholds this load made three."""
    make_room_for(1500)  # the test's own end of the connections
    process, url = start(MODULE, latency="fixed:1")
    try:
        ends = asyncio.run(_stream_each(url, rows=1500))
        assert ends == ["response.completed"] * 1500
        stats = httpx.get(f"{url.removesuffix('/v1')}/emulator/stats", timeout=30).json()
        young, _, full = stats["gc"]["collections"]
        assert young > 0, "the collector ran, and was counted"
        assert full == 0, stats["gc"]
    finally:
        process.terminate()
        process.communicate(timeout=30)


async def _stream_each(url: str, rows: int) -> list[str]:
    """Create `rows` background streams at once; the last event type of each."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(row: int) -> str:
            body = {"model": "o3", "input": f"row {row}", "background": True, "stream": True}
            async with http.post(f"{url}/responses", json=body) as reply:
                lines = [line async for line in reply.content if line.startswith(b"event: ")]
            return lines[-1].decode().removeprefix("event: ").strip()

        return await asyncio.gather(*(one(row) for row in range(rows)))


@pytest.mark.timeout(60)
def test_a_served_emulator_holds_more_streams_than_the_open_file_limit_it_started_with() -> None:
    """A process may start with 256 open files (macOS) or 1,024 while allowing far more, and a stream
    holds its connection for its response's whole life. The served emulator raises its own soft limit
    (`server.room_for_connections`): before, the streams past it were never accepted, and their clients
    (a run on the embedded emulator, which raises its own limit only after starting it) waited for ever."""
    streams = 600
    make_room_for(streams)  # the test's own end of the connections
    process, url = start(MODULE, latency="fixed:3600", open_files=256)
    try:
        assert asyncio.run(_started_and_held(url, streams)) == streams
    finally:
        process.terminate()
        process.communicate(timeout=30)


async def _started_and_held(url: str, rows: int) -> int:
    """Open `rows` background streams at once and hold each past its `response.created`; the jobs the
    emulator then counts (asked over one more connection)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        held: list[aiohttp.ClientResponse] = []

        async def one(row: int) -> None:
            body = {"model": "o3", "input": f"row {row}", "background": True, "stream": True}
            reply = await http.post(f"{url}/responses", json=body)
            held.append(reply)
            async for line in reply.content:
                if line.startswith(b"event: response.created"):
                    return

        await asyncio.gather(*(one(row) for row in range(rows)))
        async with http.get(f"{url.removesuffix('/v1')}/emulator/stats") as answer:
            jobs = int((await answer.json())["jobs"])
        for reply in held:
            reply.close()
        return jobs
