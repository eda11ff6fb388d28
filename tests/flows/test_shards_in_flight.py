"""A run holds `--max-in-flight` rows in flight, however many shards that takes.

The flow ran two shards (`ROWRELAY_SHARD_SIZE` rows each, 1,000 by default) at once per endpoint, so
a user trial's `--max-in-flight 10000` against responses of 20 s held 2,000 in flight at most: 200,000
rows would have taken five times as long, and nothing said why (`flows.targets.shards_at_once`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from rowrelay.flows.targets import SHARDS_AT_ONCE, shards_at_once
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.runs import creates_per_row, flow_args
from tests.support.said import Said
from tests.support.tickets import write_tickets

ROWS, SHARD = 20, 5


async def test_rows_in_flight_reach_max_in_flight_across_more_than_two_shards(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv("ROWRELAY_SHARD_SIZE", str(SHARD))
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    # Nothing completes while the test looks: every row in flight stays so until the run is stopped.
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:3600"))) as emu:
        args = flow_args(tmp_path, emu, max_in_flight=ROWS, rpm=60_000)
        run = asyncio.create_task(run_batch(str(source), **args))
        # On the old code two shards of 5 went in flight and the other 10 rows waited for ever.
        for _ in range(6000):  # a condition to wait for; the cap only ends a hang
            if len(creates_per_row(emu)) == ROWS or run.done():
                break
            await asyncio.sleep(0.01)
        in_flight = len(creates_per_row(emu))
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        jobs = creates_per_row(emu)
    assert in_flight == ROWS
    frame = load(tmp_path / "state")
    # the stop cancelled them all, and no row was sent twice: each row's jobs are its attempts
    assert set(frame["status"]) == {"cancelled"}
    assert dict(zip(frame["row_key"], frame["attempts"], strict=True)) == dict(jobs)
    assert set(jobs.values()) == {1}


def test_shards_at_once_hold_max_in_flight_and_one_more() -> None:
    assert shards_at_once(200, 1000) == SHARDS_AT_ONCE
    assert shards_at_once(2000, 1000) == 3
    assert shards_at_once(10_000, 1000) == 11
    assert shards_at_once(10_001, 1000) == 12
    assert shards_at_once(20, 5) == 5


async def test_a_stop_across_shards_is_said_once(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shard said its own stop: two shards of 40 read 'cancelling 40 in-flight responses' twice,
    then '40 in-flight responses were cancelled' twice (eleven times each at --max-in-flight 10000)."""
    from rowrelay.flows.batch import run_batch

    rows = 80
    monkeypatch.setenv("ROWRELAY_SHARD_SIZE", str(rows // 2))
    source = write_tickets(tmp_path / "tickets.csv", rows)
    said = Said()
    logging.getLogger("rowrelay.runner").addHandler(said)
    try:
        with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:3600"))) as emu:
            args = flow_args(tmp_path, emu, max_in_flight=rows, rpm=60_000)
            run = asyncio.create_task(run_batch(str(source), **args))
            for _ in range(6000):  # a condition to wait for; the cap only ends a hang
                if len(creates_per_row(emu)) == rows or run.done():
                    break
                await asyncio.sleep(0.01)
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
            jobs = creates_per_row(emu)
    finally:
        logging.getLogger("rowrelay.runner").removeHandler(said)
    assert len(jobs) == rows
    assert said.messages == [
        f"run cancelled: cancelling {rows} in-flight responses on the server; stopping again leaves the "
        "rest running",
        f"run cancelled: {rows} in-flight responses were cancelled",
    ]
    frame = load(tmp_path / "state")
    assert set(frame["status"]) == {"cancelled"}
    assert dict(zip(frame["row_key"], frame["attempts"], strict=True)) == dict(jobs)
