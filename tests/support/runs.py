"""A batch run in-process: settings for an emulator, a planned state table, prompts, and the run."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.run import RunReport, Session, open_session
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable
from tests.support.emulator_process import EmulatorProcess
from tests.support.tickets import TEMPLATE

ROWS = 60


def flow_args(tmp_path: Path, emu: RunningEmulator, **extra: Any) -> dict[str, Any]:
    """`run_batch` keyword arguments for the sample tickets on `emu`, state and output under `tmp_path`."""
    return {
        "template": TEMPLATE,
        "id_column": "ticket_id",
        "state": str(tmp_path / "state"),
        "output": str(tmp_path / "out.parquet"),
        "backend": "emulator",
        "base_url": emu.url,
        **extra,
    }


class Served(Protocol):
    """Where a server answers (or will): an emulator, in a thread or its own process."""

    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class Address:
    """A server's address alone, for `settings_for`: where nothing listens (yet), or a relay to one."""

    url: str


def settings_for(emu: Served, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "backend": "emulator",
        "base_url": emu.url,
        "model": "gpt-4.1-mini",
        "rpm": 60_000,
        "tpm": 100_000_000,
        "poll_rpm": 60_000,
        "max_in_flight": 50,
        "max_attempts": 3,
        "checkpoint_interval": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


def new_table(directory: Path, rows: int = ROWS) -> StateTable:
    table = StateTable.open(directory, batch_id="test-batch", checkpoint_interval=0.05)
    table.add_pending((f"row-{i:04d}", i, f"hash-{i}") for i in range(rows))
    return table


def prompts(rows: int = ROWS) -> dict[str, str]:
    return {f"row-{i:04d}": f"Summarise ticket number {i}." for i in range(rows)}


async def run_batch(
    emu: RunningEmulator | EmulatorProcess, directory: Path, rows: int = ROWS, **overrides: Any
) -> RunReport:
    return await run_table(new_table(directory, rows), settings_for(emu, **overrides), prompts(rows))


async def run_table(table: StateTable, settings: Settings, asked: Mapping[str, str]) -> RunReport:
    """A run over `table`, its rows asked `asked`, to its end; then the session and the table closed."""
    session = open_session(settings, table, asked)
    try:
        return await session.runner.run()
    finally:
        await session.aclose()
        table.close()


@contextlib.asynccontextmanager
async def running(
    session: Session, table: StateTable, *ends: type[BaseException]
) -> AsyncIterator[asyncio.Future[RunReport]]:
    """`session`'s run as a task, for the test to watch, stop or await. Afterwards the run is cancelled
    and awaited (the errors in `ends`, which the test expects it to raise, left to the test's own
    assertions), then the session and table are closed as the CLI closes them."""
    run = asyncio.ensure_future(session.runner.run())
    try:
        yield run
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError, *ends):
            await run
        await session.aclose()
        table.close()


async def cancel_midway(
    emu: RunningEmulator, directory: Path, rows: int, ready: Callable[[], bool], **overrides: Any
) -> None:
    """Start a run over a fresh table, cancel it (as Ctrl-C does) once `ready()` holds, see the run end
    cancelled, and close the session and table as the CLI does."""
    table = new_table(directory, rows)
    session = open_session(settings_for(emu, **overrides), table, prompts(rows))
    async with running(session, table) as task:
        while not ready():  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # the emulator runs in another thread: nothing to await on
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def creates_per_row(emu: RunningEmulator) -> Counter[str]:
    """How many responses the emulator holds for each row key (from the `rowrelay_row` metadata)."""
    return Counter(r["metadata"].get("rowrelay_row") for r in emu.emulator.listing())


async def left_in_flight(
    table: StateTable,
    url: str,
    requests: Iterable[RowRequest],
    *,
    attempts: int = 1,
    submitted_at: datetime | None = None,
) -> None:
    """Rows an earlier run created and left in flight (a crash): each request created on the emulator at
    `url`, its row recorded `submitting` and then holding its token, as that run would have; `attempts`
    spent by then, and sent at `submitted_at` (now unless given: a run long ago, say)."""
    backend = make_backend(Settings(backend="emulator", base_url=url))
    sent = {} if submitted_at is None else {"submitted_at": submitted_at}
    try:
        for request in requests:
            created = await backend.create(request)
            table.transition(request.row_key, "submitting", attempts=attempts)
            table.transition(request.row_key, created.status, response_id=created.response_id, **sent)
    finally:
        await backend.aclose()
