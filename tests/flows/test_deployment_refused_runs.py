"""A scheduled run refused for what is the user's to fix (a sent row's input edited, the input file gone)
ends Failed with one line, as the deployment's way on, in its state message and the deploy console: no
traceback (Prefect's task and flow engines printed two, 78 lines, for one refused night), and no advice
of a per-run option a deployment's runs cannot be given. A `--limit` deployment's runs say its next
scheduled runs send the rows left, not "the same command without --limit".
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.deployments import served, wait_for_deployment
from tests.support.prefect_records import logs_of

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, Log

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def _logs_once_said(run_id: UUID, opening: str = "Finished in state") -> list[Log]:
    """The run's logs on the server, once a line starting with `opening` (by default its closing line)
    is there: the serving process ships its logs in batches, after the run's final state."""
    deadline = time.monotonic() + 60
    logs = await logs_of(run_id)
    while not any(log.message.startswith(opening) for log in logs):
        assert time.monotonic() < deadline, [log.message for log in logs]
        await asyncio.sleep(0.5)
        logs = await logs_of(run_id)
    return logs


async def _run(name: str) -> FlowRun:
    from prefect.deployments import arun_deployment

    run = await arun_deployment(name, timeout=180)
    assert run.state is not None
    assert run.state.is_final(), run.state
    return run


async def test_a_refused_scheduled_run_fails_in_one_line_that_says_the_deployments_way_on(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    console = tmp_path / "serve-refused.log"
    with (
        running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu,
        served("refused", prefect_env, emu, tmp_path, rows=4, options=("--limit", "3")) as (name, state),
    ):
        await wait_for_deployment(name, console)
        first = await _run(name)
        assert first.state is not None
        assert first.state.is_completed(), first.state
        said = [log.message for log in await _logs_once_said(first.id, "--limit")]
        left = "--limit 3: 1 row to send left for this deployment's next scheduled runs (each sends up to 3)"
        assert left in said, said
        assert not any("without --limit" in message for message in said), said

        # A row the batch sent gets another text: every later run is refused until the user acts.
        table = load(state)
        sent = sorted(table.loc[table["status"] == "completed", "row_key"])[0]
        tickets = pd.read_csv(tmp_path / "tickets.csv")
        tickets.loc[tickets["ticket_id"] == sent, "body"] = "Edited after it was sent."
        tickets.to_csv(tmp_path / "tickets.csv", index=False)
        sent_before = len(emu.emulator.listing())
        edited = await _run(name)
        assert edited.state is not None
        assert edited.state.is_failed(), edited.state
        message = edited.state.message or ""
        assert message.startswith(f"1 row changed input since this batch sent it (e.g. {sent}); "), message
        assert "stop this `rowrelay deploy` and deploy again with --resend-edited" in message, message
        assert "use a new --state directory" not in message, message
        await _expect_one_line(message, console)

        (tmp_path / "tickets.csv").unlink()
        gone = await _run(name)
        assert gone.state is not None
        assert gone.state.is_failed(), gone.state
        assert gone.state.message == f"input file not found: {tmp_path / 'tickets.csv'}", gone.state.message
        await _expect_one_line(gone.state.message, console)
        assert len(emu.emulator.listing()) == sent_before  # neither refused run sent anything
    assert "Traceback" not in _said(console), _tail(console)


async def _expect_one_line(message: str, console: Path) -> None:
    """The deploy console shows `message` in one line (Prefect's closing line of the run) and no
    traceback. The run's logs on the server keep the task engine's record of the error, traceback and all,
    for whoever looks into it there."""
    deadline = time.monotonic() + 60
    while not _lines_saying(message, console):
        assert time.monotonic() < deadline, _tail(console)
        await asyncio.sleep(0.5)
    assert "Traceback" not in _said(console), _tail(console)
    shown = _lines_saying(message, console)
    assert len(shown) == 1, _tail(console)
    assert "Finished in state Failed(" in shown[0], shown


def _said(console: Path) -> str:
    """Everything the deploy console (its log file) holds so far."""
    return console.read_text()


def _lines_saying(message: str, console: Path) -> list[str]:
    return [line for line in _said(console).splitlines() if message in line]


def _tail(console: Path) -> str:
    return _said(console)[-3000:]
