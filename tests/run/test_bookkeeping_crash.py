"""A crash in what a run learns from an answer (its cost, its latency, its size) does not keep the paid
answer from its row.

A user trial's server sent `"input_tokens": "10"`, and pricing it raised a TypeError: the row stayed in
flight ("crashed while waited on"), the next run met the same crash, and `retry` found nothing to send,
the answer paid for and never recorded. Such usage is now read as unknown (tests/run/test_odd_usage.py);
this pins the other half: any bug in that bookkeeping (here pricing, made to raise once) is logged, and
the row's end is recorded without its cost, its job counted once.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import Snapshot
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import run_batch

ROWS = 6


async def test_a_crash_in_pricing_records_the_answer_without_its_cost(
    emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    priced = Spend.cost_of
    calls = Counter[str]()

    def crashes_once(spend: Spend, snapshot: Snapshot) -> float | None:
        calls["priced"] += 1
        if calls["priced"] == 1:  # a bug in pricing, met by the first answer to end
            raise TypeError("unsupported operand type(s) for -: 'str' and 'int'")
        return priced(spend, snapshot)

    monkeypatch.setattr(Spend, "cost_of", crashes_once)
    caplog.set_level(logging.ERROR, "rowrelay.wait")
    report = await run_batch(emulator, tmp_path / "state", ROWS, poll_streams=0)
    frame = load(tmp_path / "state").set_index("row_key")
    started, unanswered = jobs_of(emulator.url)
    assert report.counts == {"completed": ROWS}, frame[["status", "note"]]
    assert frame["output_text"].str.len().gt(0).all()
    assert started == Counter(dict.fromkeys(frame.index, 1)) == Counter(frame["attempts"].to_dict())
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    assert frame["cost_usd"].isna().sum() == 1, "the row whose pricing crashed has no cost; the others do"
    assert any("recorded without its cost" in r.getMessage() for r in caplog.records)
