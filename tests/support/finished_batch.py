"""A finished batch on disk, as `rowrelay run` leaves one, made without Prefect: its tickets CSV, a state
table whose every row the runner completed against an emulator, and the `run.json` `export` reads.

The start-up test and benchmark (`rowrelay status` / `export` on it) need a real table, not the flow: the
runner sends every row through the SDK to the emulator's socket, so statuses, texts, tokens and timings
are what a run records.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import RunRecord, StateTable, write_run_record
from tests.support.runs import settings_for
from tests.support.tickets import TEMPLATE, write_tickets

MODEL = "gpt-4.1-mini"


def finished_batch(emu: RunningEmulator, directory: Path, rows: int) -> Path:
    """Run `rows` tickets against `emu` into `directory/state`; returns the state directory.

    Call from outside an event loop (it runs its own)."""
    source = write_tickets(directory / "tickets.csv", rows)
    spec = InputSpec(template=TEMPLATE, id_column="ticket_id")
    prepared = prepare(read_input(source), spec)
    state = directory / "state"
    prompts = {row.row_key: row.prompt for row in prepared.rows}

    async def run() -> None:
        table = StateTable.open(state, batch_id="finished")
        table.add_pending((row.row_key, row.row_index, row.input_hash) for row in prepared.rows)
        session = open_session(settings_for(emu, model=MODEL), table, prompts)
        try:
            await session.runner.run()
        finally:
            await session.aclose()
            table.close()

    asyncio.run(run())
    # as the flow records it (flows/batch.py, `_record_run`)
    record = RunRecord(
        input=str(source), spec=asdict(spec), output=str(directory / "out.csv"), backend="emulator",
        base_url=emu.url, model=MODEL, mode="poll",
    )  # fmt: skip
    write_run_record(state, record)
    return state
