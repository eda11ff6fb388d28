"""A crash while pricing an answer keeps `--max-cost`: the answer, paid for, is counted at its estimate.

`Spend.settle` released the row's estimate, then priced the answer; when pricing raised, the row was left
in neither what the run had spent, nor lost, nor committed, and the cap let a waiting row go in the room
the paid answer took. No real server's answer makes pricing raise since odd usage is read as unknown
(0a64732), so pricing is made to raise here by a monkeypatch: it stands for a bug, not for a server.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import Snapshot, estimate_tokens
from rowrelay.tasks.llm.prices import load_prices
from rowrelay.tasks.run.response_cost import response_cost
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import prompts, run_batch

ROWS = 12
OUTPUT = 96
"""Every answer is exactly this long, and so is the run's ceiling: a row's estimate is what it costs."""
MINI = load_prices(None).rates("openai", "gpt-4.1-mini", "default")


def cost_of_row(prompt: str) -> float:
    assert MINI is not None
    return (estimate_tokens(prompt) * MINI.input + OUTPUT * MINI.output) / 1e6


@pytest.fixture
def exact_emulator() -> Iterator[RunningEmulator]:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"), output_tokens=(OUTPUT, OUTPUT), seed=5)
    with running_emulator(config) as emu:
        yield emu


async def test_a_crash_in_pricing_counts_the_answer_at_its_estimate_under_the_cap(
    exact_emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    priced = response_cost  # the pricing rule, as `Spend` calls it
    calls = Counter[str]()

    def crashes_once(snapshot: Snapshot, *prices: Any) -> float | None:
        calls["priced"] += 1
        if calls["priced"] == 1:  # a bug in pricing, met by the first answer to end
            raise TypeError("unsupported operand type(s) for -: 'str' and 'int'")
        return priced(snapshot, *prices)

    monkeypatch.setattr("rowrelay.tasks.run.spend.response_cost", crashes_once)
    caplog.set_level(logging.ERROR, "rowrelay")
    costs = {key: cost_of_row(prompt) for key, prompt in prompts(ROWS).items()}
    cap = 5.5 * max(costs.values())  # room for five rows, never six; rows wait for room as answers end
    report = await run_batch(
        exact_emulator, tmp_path / "state", ROWS, max_output_tokens=OUTPUT, max_in_flight=3, max_cost=cap
    )
    frame = load(tmp_path / "state").set_index("row_key")
    started, unanswered = jobs_of(exact_emulator.url)
    paid = sum(costs[key] * jobs for key, jobs in started.items())
    assert paid <= cap + 1e-12, f"{sum(started.values())} jobs paid for, ${paid:.6f} over the cap ${cap:.6f}"
    assert report.counts == {"completed": 5, "pending": ROWS - 5}, frame[["status", "note"]]
    assert Counter({k: n for k, n in frame["attempts"].to_dict().items() if n}) == started
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    assert frame["cost_usd"].notna().sum() == 4, "the row whose pricing crashed has no cost; the others do"
    assert any("pricing its answer failed" in r.getMessage() for r in caplog.records)
