"""A scheduled run whose batch another live run holds (the deployment served by two processes, one
starting a run due while the other's goes): it ends Cancelled in one log line, having sent nothing, not
Failed with a traceback, which the README's automation on Failed would report as a bad night.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import StateTable, load
from tests.support.deployments import served, serving, stopped, wait_for_deployment
from tests.support.prefect_records import logs_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

_HELD_SAID = re.compile(
    re.escape(
        "this scheduled run ends Cancelled, having sent nothing: its batch is held by another live run, "
        "which does the batch's work ("
    )
    + r"(?P<directory>\S+): writer 'main' is held by a live runner "
    + re.escape(f"(host={socket.gethostname()} pid={os.getpid()} since=")
    + r"\S+ heartbeat=\S+\)\)"
    + re.escape(
        ". If that run is this deployment's too, the deployment is served by two processes (two `rowrelay "
        "deploy` of one name), each starting its runs while the other's goes: serve it once"
    )
)
"""What the refused run logs, and its Cancelled state says: the holder is this test's own table."""


async def test_a_scheduled_run_finding_its_batch_held_by_another_live_run_ends_cancelled_in_one_line(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment

    with (
        running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu,
        served("held", prefect_env, emu, tmp_path, rows=4) as (name, state),
    ):
        await wait_for_deployment(name, tmp_path / "serve-held.log")
        first = await arun_deployment(name, timeout=180)
        assert first.state is not None
        assert first.state.is_completed(), first.state
        sent = len(emu.emulator.listing())
        # Another live run of the batch (as a second serving process's run of the same night would be).
        with StateTable.open(state):
            run = await arun_deployment(name, timeout=0)
            deadline = time.monotonic() + 180
            async with get_client() as client:
                while True:
                    current = (await client.read_flow_run(run.id)).state
                    if current is not None and current.is_final():
                        break
                    assert time.monotonic() < deadline, (tmp_path / "serve-held.log").read_text()[-3000:]
                    await asyncio.sleep(0.5)
        assert current.is_cancelled(), current
        assert len(emu.emulator.listing()) == sent  # nothing was sent
        # The serving process ships its logs in batches, after the run's final state: wait for the last.
        deadline = time.monotonic() + 60
        logs = await logs_of(run.id)
        while not any(log.message.startswith("Finished in state") for log in logs):
            assert time.monotonic() < deadline, [log.message for log in logs]
            await asyncio.sleep(0.5)
            logs = await logs_of(run.id)
        # No error but Prefect's own closing line (which it logs at ERROR for every state but Completed).
        errors = [log.message for log in logs if log.level >= 40]
        assert [message.split("(")[0] for message in errors] == ["Finished in state Cancelled"], errors
        ours = [log.message for log in logs if log.message.startswith("this scheduled run")]
        assert [message.split(" (")[0] for message in ours] == [
            "this scheduled run ends Cancelled, having sent nothing: its batch is held by another live run, "
            "which does the batch's work"
        ], [log.message for log in logs]
        # Whole: what holds the batch, then the deployment's way on alone, not also the command line's
        # ("wait for that run to end ..., then run the same command to resume"), which contradicted it.
        said_whole = _HELD_SAID.fullmatch(ours[0])
        assert said_whole is not None, ours[0]
        assert Path(said_whole["directory"]) == state, ours[0]
        assert current.message == ours[0]
        assert all("Traceback" not in log.message for log in logs)
        assert all("LeaseHeldError" not in log.message for log in logs)
    said = (tmp_path / "serve-held.log").read_text()
    assert "Traceback" not in said, said[-3000:]
    assert set(load(state)["status"]) == {"completed"}


async def test_serving_a_deployment_served_already_warns_naming_the_other_process(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    env = {**prefect_env, "ROWRELAY_HOME": str(tmp_path / "home")}
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        first = serving("twice", env, emu.url, tmp_path, 2, tmp_path / "first.log")
        try:
            await wait_for_deployment("rowrelay-batch/twice", tmp_path / "first.log")
            second = serving("twice", env, emu.url, tmp_path, 2, tmp_path / "second.log")
            try:
                said = (
                    f"warning: deployment 'twice' is served already, by pid {first.pid} (`rowrelay deploy`)"
                )
                deadline = time.monotonic() + 120
                while said not in (tmp_path / "second.log").read_text():
                    assert second.poll() is None, (tmp_path / "second.log").read_text()[-3000:]
                    assert time.monotonic() < deadline, (tmp_path / "second.log").read_text()[-3000:]
                    await asyncio.sleep(0.2)
            finally:
                stopped(second)
        finally:
            stopped(first)
    assert "served already" not in (tmp_path / "first.log").read_text()
