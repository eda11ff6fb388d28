"""One SIGINT to the `rowrelay deploy` process alone (`kill -INT PID`, Docker's `STOPSIGNAL SIGINT`) stops
it as Ctrl-C from its terminal does: the run in progress stops, its in-flight responses cancelled on the
server, and the process says in one line that it is stopping. Before, the signal reached the serving
process only: it said nothing, waited for the run to end on its own (responses running and billed), and
a second SIGINT ended it in two asyncio tracebacks.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import holds_tokens
from tests.support.deployments import serving, stopped, wait_for_deployment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROWS = 8


@pytest.mark.parametrize("signals", [1, 2], ids=["one-sigint", "two-sigints"])
async def test_sigint_to_the_serving_process_alone_stops_its_run_and_cancels_its_responses(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, signals: int
) -> None:
    from prefect.deployments import arun_deployment

    name = f"sigint{signals}"
    console = tmp_path / f"serve-{name}.log"
    # Responses that would run a minute: a stop that waits for the run instead shows as a timeout.
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        server = serving(name, prefect_env, emu.url, tmp_path, ROWS, console)
        try:
            await wait_for_deployment(f"rowrelay-batch/{name}", console)
            await arun_deployment(f"rowrelay-batch/{name}", timeout=0)
            deadline = time.monotonic() + 120
            while not holds_tokens(tmp_path / "state", ROWS):  # every row's response id is durable
                assert time.monotonic() < deadline, console.read_text()[-3000:]
                await asyncio.sleep(0.2)
            for _ in range(signals):
                server.send_signal(signal.SIGINT)  # the process alone, not its group
                await asyncio.sleep(0.3)
            try:
                code = await asyncio.to_thread(server.wait, 40)
            except subprocess.TimeoutExpired:
                pytest.fail("the serving process went on after SIGINT:\n" + console.read_text()[-3000:])
            statuses = {row["status"] for row in emu.emulator.listing()}
        finally:
            stopped(server)
    said = console.read_text()
    assert code == 0, said[-3000:]
    assert statuses == {"cancelled"}, (statuses, said[-3000:])
    stopping = [line for line in said.splitlines() if line.startswith("rowrelay deploy: SIGINT")]
    assert len(stopping) == 1, said[-3000:]
    assert "stopping the run in progress" in stopping[0], stopping
    assert "Traceback" not in said, said[-3000:]
    frame = load(tmp_path / "state")
    # Stopped, not given up on: the deployment's next run sends them again.
    assert set(frame["error_type"]) == {"interrupted"}, frame[["status", "error_type"]]


async def test_ctrl_c_in_the_serving_process_terminal_stops_its_run_once(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    """Ctrl-C reaches the terminal's foreground group whole, the flow-run process too: the serving
    process does not send it SIGINT again, which it would take for a second Ctrl-C and abort its run
    mid-cancel ("Execution was aborted by an interrupt signal")."""
    from prefect.deployments import arun_deployment

    console = tmp_path / "serve-ctrlc.log"
    controller, terminal = os.openpty()
    try:
        with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
            server = serving("ctrlc", prefect_env, emu.url, tmp_path, ROWS, console, terminal=terminal)
            try:
                await wait_for_deployment("rowrelay-batch/ctrlc", console)
                await arun_deployment("rowrelay-batch/ctrlc", timeout=0)
                deadline = time.monotonic() + 120
                while not holds_tokens(tmp_path / "state", ROWS):
                    assert time.monotonic() < deadline, console.read_text()[-3000:]
                    await asyncio.sleep(0.2)
                os.write(controller, b"\x03")  # Ctrl-C, typed
                try:
                    code = await asyncio.to_thread(server.wait, 40)
                except subprocess.TimeoutExpired:
                    pytest.fail("the serving process went on after Ctrl-C:\n" + console.read_text()[-3000:])
                statuses = {row["status"] for row in emu.emulator.listing()}
            finally:
                stopped(server)
    finally:
        os.close(controller)
        os.close(terminal)
    said = console.read_text()
    assert code == 0, said[-3000:]
    assert statuses == {"cancelled"}, (statuses, said[-3000:])
    assert "aborted by an interrupt signal" not in said, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert sum(line.startswith("rowrelay deploy: SIGINT") for line in said.splitlines()) == 1, said[-3000:]
