"""A batch whose streams an earlier run found cut (`run.json`'s `streams_cut`) says so on a later run only
when that run takes rows: a user trial's batch, every row completed, said "this run sends plain creates
and polls every row" on every later run, which sent and polled nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import RunRecord, write_run_record
from tests.support.relay import Cut, relaying
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

EARLIER_RUN = "an earlier run of this batch had its streamed creates cut before the response's id came"


def _earlier_said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if EARLIER_RUN in r.getMessage()]


async def test_the_earlier_cut_is_said_only_by_a_run_that_takes_rows(
    emulator: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory, rows = tmp_path / "batch", 6
    new_table(directory, rows).close()
    record = RunRecord(
        output=str(tmp_path / "out.csv"), backend="emulator", model="gpt-4.1-mini", mode="poll"
    )
    write_run_record(directory, record)
    caplog.set_level(logging.WARNING)
    settings_of = {"max_in_flight": 1, "give_up_after": 10.0}
    async with relaying(emulator.url, cut_before_named=Cut()) as relay:
        settings = settings_for(Address(relay.url), **settings_of)
        report = await run_table(new_table(directory, rows), settings, prompts(rows))
        assert report.counts == {"completed": rows}
        assert relay.cuts > 0  # the batch now remembers the fall back

        caplog.clear()
        report = await run_table(new_table(directory, rows), settings, prompts(rows))
        assert report.counts == {"completed": rows}
        assert _earlier_said(caplog) == [], "nothing sent or waited on: nothing to say"

        more = rows + 2  # the input grew: this run sends two rows, plain
        report = await run_table(new_table(directory, more), settings, prompts(more))
        assert report.counts == {"completed": more}
    assert len(_earlier_said(caplog)) == 1
