"""A crash in what a run learns from an answer (its cost, its latency, its size) does not keep the paid
answer from its row.

A user trial's server sent `"input_tokens": "10"`, and pricing it raised a TypeError: the row stayed in
flight ("crashed while waited on"), the next run met the same crash, and `retry` found nothing to send,
the answer paid for and never recorded. Such usage is now read as unknown (tests/run/test_odd_usage.py);
this pins the other half: any bug in that bookkeeping (pricing, or learning the answer's latency, each
made to raise once) is logged, and the row's end is recorded, its job counted once. A crash in pricing
leaves the row without its cost (what the cost cap counts then: tests/run/test_pricing_crash_cap.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.run import spend as spending
from rowrelay.tasks.run.schedule import LatencyModel
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import run_batch

ROWS = 6


@pytest.mark.parametrize(
    ("owner", "step", "uncosted", "said"),
    [
        (spending, "response_cost", 1, "pricing its answer failed"),  # the pricing rule `Spend` calls
        (LatencyModel, "observe", 0, "learning from its answer failed"),
    ],
    ids=["pricing", "latency"],
)
async def test_a_crash_in_bookkeeping_records_the_answer(
    emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    owner: object,
    step: str,
    uncosted: int,
    said: str,
) -> None:
    works = getattr(owner, step)
    calls = Counter[str]()

    def crashes_once(*args: Any) -> Any:  # a method's `self` among them
        calls[step] += 1
        if calls[step] == 1:  # a bug in the bookkeeping, met by the first answer to end
            raise TypeError("unsupported operand type(s) for -: 'str' and 'int'")
        return works(*args)

    monkeypatch.setattr(owner, step, crashes_once)
    caplog.set_level(logging.ERROR, "rowrelay")
    report = await run_batch(emulator, tmp_path / "state", ROWS, poll_streams=0)
    frame = load(tmp_path / "state").set_index("row_key")
    started, unanswered = jobs_of(emulator.url)
    assert calls[step] > 0
    assert report.counts == {"completed": ROWS}, frame[["status", "note"]]
    assert frame["output_text"].str.len().gt(0).all()
    assert started == Counter(dict.fromkeys(frame.index, 1)) == Counter(frame["attempts"].to_dict())
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    assert frame["cost_usd"].isna().sum() == uncosted, "only a row whose pricing crashed has no cost"
    assert any(said in r.getMessage() for r in caplog.records)
