"""`status` projects a batch by its own `--max-attempts`. It read no settings and took the default 3, so
for a batch run with 5, rows a stop cancelled with 3 or 4 attempts spent counted as ended, though the
same command sends them again: the projection left their cost out. The run now notes its max_attempts
in `run.json`, and `status` and `summary()` read it there. A real batch through `run_batch` on a real
Prefect API and the emulator over a real socket, stopped four times."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.records import usd
from rowrelay.tasks.state import load, read_run_record, summary
from tests.support.clock import ManualClock
from tests.support.duplicates import jobs_of

ROWS = 5
MAX_ATTEMPTS = 5
WORK = 120.0
"""Seconds each response works on the emulator's clock, which moves only when the test moves it."""


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"r{i}" for i in range(ROWS)], "text": [f"row {i}" for i in range(ROWS)]})


def _batch(emu: RunningEmulator, state: Path, **extra: Any) -> dict[str, Any]:
    return {
        "template": "{text}",
        "id_column": "id",
        "backend": "emulator",
        "base_url": emu.url,
        "state": str(state),
        "output": str(state.parent / "out.parquet"),
        "max_attempts": MAX_ATTEMPTS,
        **extra,
    }


async def _until(state: Path, holding: set[str]) -> None:
    """Until exactly the rows `holding` hold a durable response id in flight; the cap only ends a hang."""
    deadline = time.monotonic() + 120
    while True:
        if (state / "batch.json").exists():
            frame = load(state)
            waiting = frame["status"].isin(["queued", "in_progress"]) & frame["response_id"].notna()
            if set(frame.loc[waiting, "row_key"]) == holding:
                return
        assert time.monotonic() < deadline, f"the rows {sorted(holding)} never were in flight"
        await asyncio.sleep(0.1)


async def _stopped_in_flight(call: Callable[[], Any], state: Path, holding: set[str]) -> None:
    """Run the batch and stop it (a task's cancel: a notebook's Interrupt) once `holding` are in flight."""
    task = asyncio.ensure_future(call())
    await _until(state, holding)
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_status_projects_rows_stopped_with_attempts_left_under_the_batchs_max_attempts(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.cli import app

    state, clock = tmp_path / "state", ManualClock()
    rest = {f"r{i}" for i in range(1, ROWS)}
    config = EmulatorConfig(latency=LatencySpec.parse(f"fixed:{WORK:g}"))
    with running_emulator(config, clock=clock) as emu:
        first = asyncio.ensure_future(run_batch(_frame(), **_batch(emu, state, limit=1)))
        await _until(state, {"r0"})
        clock.advance(WORK + 1)  # r0 completes: one row with a price to project by
        assert (await first).counts["completed"] == 1
        for _ in range(3):  # stopped three times with the other four in flight: 3 attempts each
            await _stopped_in_flight(lambda: run_batch(_frame(), **_batch(emu, state)), state, rest)
        # and once more with two of them sent (`limit`): 4 attempts each
        await _stopped_in_flight(
            lambda: run_batch(_frame(), **_batch(emu, state, limit=2)), state, {"r1", "r2"}
        )

        frame = load(state).set_index("row_key")
        assert dict(frame["attempts"]) == {"r0": 1, "r1": 4, "r2": 4, "r3": 3, "r4": 3}
        assert set(frame.loc[sorted(rest), "status"]) == {"cancelled"}
        assert set(frame.loc[sorted(rest), "error_type"]) == {"interrupted"}
        record = read_run_record(state)
        assert record is not None
        assert record.max_attempts == MAX_ATTEMPTS
        spent = float(frame["cost_usd"].sum())
        priced = int(frame["cost_usd"].notna().sum())
        assert spent > 0
        # Four rows left to send, each at the mean cost of a priced row so far; the old code counted
        # them as ended (3 and 4 attempts are past the default 3) and projected what was spent alone.
        projected = spent + (ROWS - 1) * spent / priced

        facts = summary(state)
        assert facts["projected_cost_usd"] == pytest.approx(projected)
        shown = CliRunner().invoke(app, ["status", str(state), "--json"])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["projected_cost_usd"] == pytest.approx(projected)
        said = " ".join(CliRunner().invoke(app, ["status", str(state)]).stdout.split())
        assert f"~{usd(projected)} projected for the whole batch" in said

        # The projection's rows are the ones the same call sends again: each completes, within 5.
        last = asyncio.ensure_future(run_batch(_frame(), **_batch(emu, state)))
        await _until(state, rest)
        clock.advance(WORK + 1)
        assert (await last).counts["completed"] == ROWS
        started, unanswered = jobs_of(emu.url)
    done = load(state)
    assert dict(started) == dict(zip(done["row_key"], done["attempts"], strict=True))
    assert dict(started) == {"r0": 1, "r1": 5, "r2": 5, "r3": 4, "r4": 4}
    assert unanswered.total() == 0
