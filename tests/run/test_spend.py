"""What rows cost and the cost cap, against the real emulator over a real socket, through the official SDK."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm import estimate_tokens
from rowrelay.tasks.llm.prices import cost_usd, load_prices
from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.cap_words import LeftToSend
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.state import StateTable, load, summary
from tests.support.runs import creates_per_row, left_in_flight, new_table, prompts, settings_for

ROWS = 40
OUTPUT = 96
"""Every answer is exactly this long and the run's ceiling is the same, so a row's estimate is its cost."""
MINI = load_prices(None).rates("openai", "gpt-4.1-mini", "default")


def estimate(prompt: str) -> float:
    """A row's estimated cost as the cap reckons it (its prompt at the input rate, the output ceiling
    at the output rate); with answers exactly at the ceiling it is also what the row costs."""
    assert MINI is not None
    return (estimate_tokens(prompt) * MINI.input + OUTPUT * MINI.output) / 1e6


@pytest.fixture
def exact_emulator() -> Any:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"), output_tokens=(OUTPUT, OUTPUT), seed=5)
    with running_emulator(config) as emu:
        yield emu


async def _run(emu: RunningEmulator, directory: Path, **overrides: Any) -> Any:
    table = StateTable.open(directory, batch_id="test-batch", checkpoint_interval=0.05)
    if len(table) == 0:
        table.add_pending((f"row-{i:04d}", i, f"hash-{i}") for i in range(ROWS))
    settings = settings_for(emu, **{"max_output_tokens": OUTPUT, "max_in_flight": 5, **overrides})
    session = open_session(settings, table, prompts(ROWS))
    try:
        report = await session.runner.run()
        return report, session.driver.context.spend
    finally:
        await session.aclose()
        table.close()


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_the_cap_stops_creates_within_one_rows_estimate_and_a_higher_cap_resumes(
    exact_emulator: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    one_row = max(estimate(prompt) for prompt in prompts(ROWS).values())
    cap = 15.5 * one_row
    report, spend = await _run(exact_emulator, tmp_path / "batch", mode=mode, max_cost=cap)
    frame = load(tmp_path / "batch")
    sent = frame[frame["attempts"] > 0]
    spent = float(frame["cost_usd"].sum())
    assert cap - one_row < spent <= cap + 1e-12  # stopped within one row's estimate, never over
    assert spend.ledger.capped
    assert spend.stop_message(LeftToSend(ROWS - len(sent), 0)) is not None
    assert (sent["status"] == "completed").all()  # rows in flight at the cap finished
    assert set(frame.loc[frame["attempts"] == 0, "status"]) == {"pending"}  # the rest never left
    assert len(creates_per_row(exact_emulator)) == len(sent) < ROWS
    assert report.counts["pending"] == ROWS - len(sent)

    _, again = await _run(exact_emulator, tmp_path / "batch", mode=mode, max_cost=cap * 10)
    frame = load(tmp_path / "batch")
    assert (frame["status"] == "completed").all()
    assert set(creates_per_row(exact_emulator).values()) == {1}  # the resume sent only the rest
    assert not again.ledger.capped
    expected = sum(estimate(prompt) for prompt in prompts(ROWS).values())
    assert float(frame["cost_usd"].sum()) == pytest.approx(expected)
    assert summary(tmp_path / "batch")["cost_usd"] == pytest.approx(expected)


async def test_rows_wait_for_estimates_in_flight_to_settle_rather_than_stop_early(
    exact_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """With no output ceiling a row's estimate assumes 1,024 output tokens at first, ten times what the
    answers use: 40 rows in flight would hold the cap 25 times over. Rows wait for those estimates to
    become real costs instead of giving up, so the run still ends within one estimate of the cap."""
    assert MINI is not None
    cap = 20 * max(estimate(prompt) for prompt in prompts(ROWS).values())
    generous = (estimate_tokens(prompts(ROWS)["row-0000"]) * MINI.input + 1024 * MINI.output) / 1e6
    await _run(exact_emulator, tmp_path / "batch", max_output_tokens=None, max_in_flight=40, max_cost=cap)
    frame = load(tmp_path / "batch")
    spent = float(frame["cost_usd"].sum())
    assert cap - generous < spent <= cap + 1e-12
    assert 0 < int((frame["status"] == "pending").sum()) < ROWS


async def test_until_answers_tell_how_long_they_run_few_rows_leave_so_long_answers_keep_within_the_cap(
    tmp_path: Path,
) -> None:
    """Answers four times the default estimate (1,024 output tokens; a reasoning model's run longer
    still) and no output ceiling. On the guess alone, 40 rows in flight would be sent under a cap that
    holds 15 real rows. Until ten answers have been seen, fewer rows are in flight than answers still to
    see, so no more than ten are paid for on the guess; then each row is estimated at 1.25 times the
    mean answer, and the run ends within one such estimate of the cap, never over it."""
    long = 4096
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"), output_tokens=(long, long), seed=5)
    assert MINI is not None
    one_row = max(estimate_tokens(p) * MINI.input + long * MINI.output for p in prompts(ROWS).values()) / 1e6
    cap = 15 * one_row
    with running_emulator(config) as emu:
        table = new_table(tmp_path / "batch", ROWS)
        settings = settings_for(emu, max_in_flight=ROWS, max_cost=cap)  # no max_output_tokens
        session = open_session(settings, table, prompts(ROWS))
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        created = creates_per_row(emu)
    frame = load(tmp_path / "batch")
    spent = float(frame["cost_usd"].sum())
    assert spent <= cap + 1e-12
    assert spent > cap - 1.25 * one_row  # it went as far as the cap allowed
    assert len(created) == int((frame["attempts"] > 0).sum()) < ROWS
    assert report.counts["pending"] == ROWS - len(created)


async def test_a_cap_below_one_row_sends_nothing(exact_emulator: RunningEmulator, tmp_path: Path) -> None:
    report, spend = await _run(exact_emulator, tmp_path / "batch", max_cost=0.0)
    assert report.counts == {"pending": ROWS}
    assert spend.ledger.capped
    assert creates_per_row(exact_emulator) == {}


async def test_a_cap_on_a_model_with_no_price_is_refused_before_anything_is_sent(
    exact_emulator: RunningEmulator, tmp_path: Path
) -> None:
    table = new_table(tmp_path / "batch", 3)
    settings = settings_for(exact_emulator, model="my-own-model", max_cost=1.0)
    with pytest.raises(UsageError, match=r"no openai price known for model 'my-own-model'.*prices=FILE"):
        open_session(settings, table, prompts(3))
    table.close()
    assert creates_per_row(exact_emulator) == {}


async def test_a_price_file_prices_a_model_the_table_does_not_know(
    exact_emulator: RunningEmulator, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"providers": {"openai": {"my-own-model": {"default": {"input": 1, "output": 10}}}}}')
    await _run(exact_emulator, tmp_path / "batch", model="my-own-model", prices=prices, max_cost=10.0)
    frame = load(tmp_path / "batch")
    tokens = frame["input_tokens"] * 1 + frame["output_tokens"] * 10
    assert frame["cost_usd"].tolist() == pytest.approx((tokens / 1e6).tolist())


@pytest.mark.parametrize("tier", ["flex", "priority"])
async def test_rows_are_priced_at_the_tier_they_were_served_in(tmp_path: Path, tier: str) -> None:
    long_prompts = {f"row-{i:04d}": f"Ticket {i}: " + "the printer is on fire " * 220 for i in range(4)}
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        table = new_table(tmp_path / "batch", 4)
        settings = settings_for(emu, model="o4-mini", service_tier=tier, max_cost=1.0)
        session = open_session(settings, table, long_prompts)
        try:
            await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        served = {r["id"]: r for r in emu.emulator.listing()}
    frame = load(tmp_path / "batch")
    assert set(frame["service_tier"]) == {tier}
    assert (frame["cached_input_tokens"] > 0).all()  # prompts of 1,024+ tokens hit the cache
    rates = load_prices(None).rates("openai", "o4-mini", tier)  # type: ignore[arg-type]
    assert rates is not None
    for row in frame.to_dict("records"):
        assert row["response_id"] in served
        assert row["reasoning_tokens"] > 0  # part of output_tokens: priced as output
        tokens = {"input": int(row["input_tokens"]), "output": int(row["output_tokens"])}
        priced = cost_usd(
            rates,
            input_tokens=tokens["input"],
            cached_tokens=int(row["cached_input_tokens"]),
            output_tokens=tokens["output"],
        )
        assert row["cost_usd"] == pytest.approx(priced)
        if rates.cached_input is not None:  # priority: the cached tokens at the cached rate, cheaper
            uncached = (tokens["input"] * rates.input + tokens["output"] * rates.output) / 1e6
            assert row["cost_usd"] < uncached


@pytest.mark.timeout(120)
async def test_rows_admitted_but_queued_on_the_rate_limit_stay_counted_against_the_cap(
    exact_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """60 creates a minute: the first 60 rows leave at once, the next wait about a second each for the
    rate budget, admitted under the cap but still `pending`. A row waiting for room under the cap looks,
    after a second without news, for estimates left behind by rows that can no longer cost anything: it
    must not take the queued rows' for such, or it would send rows the cap has no room for."""
    rows = 64
    table = new_table(tmp_path / "batch", rows)
    one_row = max(estimate(prompt) for prompt in prompts(rows).values())
    cap = 62.5 * one_row
    settings = settings_for(
        exact_emulator, rpm=60, max_output_tokens=OUTPUT, max_in_flight=rows, max_cost=cap
    )
    session = open_session(settings, table, prompts(rows))
    try:
        await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    frame = load(tmp_path / "batch")
    assert float(frame["cost_usd"].sum()) <= cap + 1e-12
    assert int((frame["status"] == "pending").sum()) > 0


async def test_rows_an_earlier_run_left_in_flight_count_against_the_cap_from_the_start(
    exact_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A run resumed after a crash waits on the responses the crashed run had created: they are paid for
    whatever it does. It admitted new rows as if they cost nothing, and spent past the cap by what they
    cost; now their estimates count from the start, so the batch ends within its cap."""
    from rowrelay.tasks.llm import RowRequest

    one_row = max(estimate(prompt) for prompt in prompts(ROWS).values())
    held = 10
    table = StateTable.open(tmp_path / "batch", batch_id="test-batch", checkpoint_interval=0.05)
    table.add_pending((f"row-{i:04d}", i, f"hash-{i}") for i in range(ROWS))
    crashed = [
        RowRequest(key, prompt, None, "gpt-4.1-mini", {"rowrelay_row": key}, max_output_tokens=OUTPUT)
        for key, prompt in list(prompts(ROWS).items())[:held]
    ]
    await left_in_flight(table, exact_emulator.url, crashed)
    table.close()
    cap = (held + 2.5) * one_row
    _, spend = await _run(exact_emulator, tmp_path / "batch", max_cost=cap, max_in_flight=ROWS)
    frame = load(tmp_path / "batch")
    assert (frame.loc[frame["attempts"] > 0, "status"] == "completed").all()
    assert float(frame["cost_usd"].sum()) <= cap + 1e-12
    assert int((frame["attempts"] > 0).sum()) == held + 2  # the room the held rows left: two rows
    assert spend.ledger.capped


def test_a_row_offered_a_tool_is_estimated_at_one_call_before_any_answer_and_at_the_batchs_mean_after() -> (
    None
):
    """The tool estimate was nothing until this run's first answer, on every run: a capped batch of
    searches spent several times its cap on that guess, and again after each resume."""
    from rowrelay.tasks.settings import load_settings

    settings = load_settings(model="gpt-4.1-mini", tools="web_search", max_cost=1.0, backend="emulator")
    assert MINI is not None
    tokens = (100 * MINI.input + OUTPUT * MINI.output) / 1e6
    fresh = Spend.open(settings)
    fresh.ledger.cap = tokens + 0.005  # room for the tokens, not for a search at $0.01
    assert fresh.admit("row-0000", 100, OUTPUT) == "capped"
    row = tokens + 3 * 0.01 * 1.25  # 3 searches a row so far, with the estimate's margin
    for room, admitted in ((-0.001, "capped"), (0.001, "go")):
        resumed = Spend.open(settings, spent=0.5, priced_rows=10, tool_calls=30)
        resumed.ledger.cap = 0.5 + row + room
        assert resumed.admit("row-0010", 100, OUTPUT) == admitted


async def test_the_output_estimate_starts_from_the_batchs_answers_so_far(
    exact_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A resumed run guessed 1,024 output tokens again for its first ten rows, whatever thirty answers had
    shown: under a cap a few cents from the spent, it sent nothing."""
    await _run(exact_emulator, tmp_path / "batch", max_output_tokens=None, max_cost=25 * ROWS * 1e-3)
    table = StateTable.open(tmp_path / "batch")
    try:
        session = open_session(settings_for(exact_emulator), table, prompts(ROWS))
        try:
            assert session.budget.output.value() == math.ceil(1.25 * OUTPUT)
            assert session.budget.output.guesses_left == 0
        finally:
            await session.aclose()
    finally:
        table.close()


@pytest.mark.parametrize("input_tokens", [None, 12], ids=["none", "half"])
def test_answers_without_their_usage_count_against_the_cap_at_their_estimate(
    input_tokens: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    """Some OpenAI-compatible servers leave `usage` out (or null): such an answer's cost was unknown and
    counted as nothing, so a capped batch sent every row past its cap, exit 0, no warning."""
    from rowrelay.tasks.llm import Snapshot
    from rowrelay.tasks.settings import load_settings

    settings = load_settings(model="gpt-4.1-mini", max_cost=1.0, backend="emulator")
    spend = Spend.open(settings)
    assert MINI is not None
    row = (100 * MINI.input + OUTPUT * MINI.output) / 1e6
    spend.ledger.cap = 2.5 * row  # room for two rows
    with caplog.at_level(logging.WARNING, logger="rowrelay"):
        for i in range(2):
            assert spend.admit(f"row-{i}", 100, OUTPUT) == "go"
            answer = Snapshot("resp", "completed", "an answer", input_tokens=input_tokens)
            assert spend.settle(f"row-{i}", answer) is None
        assert spend.admit("row-2", 100, OUTPUT) == "capped", "two rows paid for at their estimate"
    assert spend.ledger.lost == pytest.approx(2 * row)
    assert [r.getMessage() for r in caplog.records] == [
        "the server answers without token usage: its rows get no cost_usd, and --max-cost counts each at "
        "its estimate (prompt tokens and the output ceiling)"
    ], "said once"
    failed = Spend.open(settings)
    failed.admit("row-0", 100, OUTPUT)
    failed.settle("row-0", Snapshot("resp", "failed", None))
    assert failed.ledger.lost == 0.0, "a failed response is not billed"
