"""A shard that loses the run's shared budget stops, and fails no row for it (`BankUnreachableError`).

On Dask each shard draws its creates, polls and in-flight slots from the run's bank on the scheduler.
When the coordinator closes the cluster (another shard stopped the run) or the scheduler dies, the
worker's calls to the bank fail; rows waiting on a grant were recorded failed ("internal", as a bug in
one row is), and the closing shard's error hid the one that stopped the run. Here the link to the bank
is the in-process bank the Dask RPC would carry, cut by the test as a closed connection pool cuts it,
against a live emulator whose jobs stay in flight on a manual clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import BankUnreachableError
from rowrelay.tasks.llm.bank import Bank, Kind, Limits
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import load
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.inspection import eventually, reading
from tests.support.runs import creates_per_row, new_table, prompts, running, settings_for

RPM = 60
"""A create a second, granted one at a time: most rows still wait on the bank when the test cuts it (a
shard that holds its grants works on without the bank until it needs it again)."""


class _Cuttable:
    """A link to an in-process bank (what the Dask RPC carries, minus the network) that the test cuts:
    every call then raises as `DaskLink` does once the worker's connection to the scheduler is gone."""

    def __init__(self, bank: Bank, holder: str = "worker-1/shard-0") -> None:
        self.bank, self.holder = bank, holder
        self.cut = False
        self.refused = 0

    def _reach(self) -> None:
        if self.cut:
            self.refused += 1
            raise BankUnreachableError(
                "the run's rate budget on the Dask scheduler cannot be reached "
                "(RuntimeError: ConnectionPool is closed)"
            )

    async def grant(self, kind: Kind, count: int, tokens: int) -> float:
        self._reach()
        return self.bank.grant("default", kind, count, tokens)

    async def pause(self, kind: Kind, seconds: float) -> None:
        self._reach()
        self.bank.pause("default", kind, seconds)

    async def hold(self, count: int) -> int:
        self._reach()
        return self.bank.hold("default", self.holder, count)

    async def release(self, count: int) -> None:
        self._reach()
        self.bank.release("default", self.holder, count)


def _bank(rows: int, rpm: int = RPM) -> Bank:
    return Bank({"default": Limits(rpm, 10**9, 60_000, rows)}, lambda: asyncio.get_running_loop().time())


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_shard_that_loses_its_bank_stops_and_fails_no_row_and_the_next_run_finishes_them(
    tmp_path: Path, mode: str
) -> None:
    rows = 20
    clock = ManualClock()  # the jobs run only when the test moves it: in flight when the bank goes
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        settings = settings_for(emu, mode=mode, rpm=RPM, max_in_flight=rows)
        table = new_table(tmp_path / "batch", rows)
        link = _Cuttable(_bank(rows))
        session = open_session(settings, table, prompts(rows), shared=link)
        # closing gives the session's slots back to a bank out of reach: no error may hide the first
        async with running(session, table, BankUnreachableError) as run:
            await eventually(reading(lambda: len(emu.emulator.listing())), lambda n: n >= 3)
            link.cut = True
            with pytest.raises(BankUnreachableError):
                await asyncio.wait_for(run, timeout=120)
        assert link.refused > 0
        frame = load(tmp_path / "batch")
        assert not (frame["status"] == "failed").any(), frame[["row_key", "status", "error_message"]]
        sent = frame["response_id"].notna()
        assert 3 <= sent.sum() < rows  # some rows were created, some still waited on the bank
        assert (frame.loc[sent, "attempts"] == 1).all()
        assert (frame.loc[~sent, "status"] == "pending").all()
        assert (frame.loc[~sent, "attempts"] == 0).all()
        assert_every_job_is_paid_for(frame, creates_per_row(emu), Counter())

        # The next run, with its bank: the rest created at once, then every job let finish.
        table = new_table(tmp_path / "batch", 0)
        again = settings.model_copy(update={"rpm": 60_000})
        session = open_session(again, table, prompts(rows), shared=_Cuttable(_bank(rows, 60_000)))
        async with running(session, table) as run:
            await eventually(reading(lambda: len(emu.emulator.listing())), lambda n: n == rows)
            clock.advance(31)
            report = await asyncio.wait_for(run, timeout=120)
        jobs = creates_per_row(emu)
    assert report.counts == {"completed": rows}
    frame = load(tmp_path / "batch")
    assert (frame["attempts"] == 1).all()
    assert_every_job_is_paid_for(frame, jobs, Counter())
    assert set(jobs.values()) == {1}
