"""Rows sent while their estimate is still a guess, under `--max-cost`: against the real emulator over a real
socket, through the official SDK. A user trial's `--tools web_search --max-cost 0.05` sent four rows at
once on the guess of one search each; the emulator answered each with about three, and the batch spent
$0.1105. Rows on a guess now count at eight times their estimate while in flight (less once answers came
back cheaper than their guess: `run.ledger`), so near the cap they go one at a time until an answer has
taught the estimate, and a run ends within its cap or past it by what one row sent alone cost over its
estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import estimate_tokens
from rowrelay.tasks.llm.estimates import DEFAULT_OUTPUT_ESTIMATE
from rowrelay.tasks.llm.prices import load_prices
from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.ledger import GUESS_FACTOR
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.settings import load_settings
from rowrelay.tasks.state import load
from tests.support.runs import new_table, prompts, settings_for

ROWS = 20
CAP = 0.05
SEARCH_FEE = 0.01
"""`web_search`, per call (the shipped price list)."""


def _guess(model: str, fee: float) -> float:
    """The cheapest estimate a row of the batch is sent on before any answer: its prompt, the default
    output guess and, with tools, one call."""
    rates = load_prices(None).rates("openai", model, "default")
    assert rates is not None
    tokens = min(estimate_tokens(prompt) for prompt in prompts(ROWS).values())
    return (tokens * rates.input + DEFAULT_OUTPUT_ESTIMATE * rates.output) / 1e6 + fee


async def _capped_run(tmp_path: Path, seed: int, output_tokens: tuple[int, int], **overrides: Any) -> Any:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), output_tokens=output_tokens, seed=seed)
    with running_emulator(config) as emu:
        table = new_table(tmp_path / "batch", ROWS)
        session = open_session(settings_for(emu, max_cost=CAP, **overrides), table, prompts(ROWS))
        try:
            await session.runner.run()
            assert session.driver.context.spend.ledger.capped
        finally:
            await session.aclose()
            table.close()
    frame = load(tmp_path / "batch")
    return frame[frame["attempts"] > 0]


@pytest.mark.parametrize("seed", [0, 5])
async def test_a_capped_run_of_searches_ends_within_one_rows_excess_of_its_cap(
    tmp_path: Path, seed: int
) -> None:
    """The trial's run: `--tools web_search --max-cost 0.05`, no ceilings, answers of one to three
    searches. On the old code four rows went at once on the guess of one search and the batch spent
    $0.10 (seeds 0 and 5); now the first goes alone, and the run ends under the cap or past it by what the
    one row sent alone cost over its estimate."""
    sent = await _capped_run(tmp_path, seed, (16, 96), tools="web_search")
    assert (sent["status"] == "completed").all()
    assert 0 < len(sent) < ROWS  # the first row went: the guess refused nothing
    spent, dearest = float(sent["cost_usd"].sum()), float(sent["cost_usd"].max())
    assert dearest <= 3 * SEARCH_FEE + 0.001  # at most three searches a row: within the factor
    assert spent <= CAP + dearest - _guess("gpt-4.1-mini", SEARCH_FEE), (spent, list(sent["cost_usd"]))


@pytest.mark.parametrize("seed", [0, 5])
async def test_a_capped_run_of_a_reasoning_model_ends_within_one_rows_excess_of_its_cap(
    tmp_path: Path, seed: int
) -> None:
    """The output guess (1,024 tokens until ten answers) covers a reasoning model's answers, 1,500 to 6,000
    tokens here with its reasoning: on the old code nine or ten rows went at once on the guess and the
    batch spent three times its cap; now it ends past it by one row's excess at most."""
    sent = await _capped_run(tmp_path, seed, (1000, 1500), model="o4-mini")
    assert (sent["status"] == "completed").all()
    assert 0 < len(sent) < ROWS
    spent, dearest = float(sent["cost_usd"].sum()), float(sent["cost_usd"].max())
    assert spent <= CAP + dearest - _guess("o4-mini", 0.0), (spent, list(sent["cost_usd"]))


def _answer(searches: int, input_tokens: int = 0, output_tokens: int = 0) -> Any:
    """A completed answer after `searches` web searches."""
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    text = {"type": "output_text", "text": "ok", "annotations": []}
    message = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [text],
    }
    return snapshot_of({
        "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-4.1-mini",
        "output": [*[search] * searches, message],
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "total_tokens": input_tokens + output_tokens},
    })  # fmt: skip


def test_rows_on_a_guess_wait_near_the_cap_and_go_far_from_it() -> None:
    """Far from the cap the rows on a guess go as before (nine at once, fewer than the ten answers to
    learn from); near it the second waits for the first, which goes even when its guess is most of the
    cap, and a row whose estimate is no guess goes beside rows on one only if they fit at the factor."""
    far = Spend.open(load_settings(tools="web_search", max_cost=5.0, model="gpt-4.1-mini"))
    assert [far.admit(f"row-{n}", 0, 0, guesses_left=10) for n in range(9)] == ["go"] * 9

    near = Spend.open(load_settings(tools="web_search", max_cost=0.015, model="gpt-4.1-mini"))
    assert near.admit("row-0", 0, 0) == "go"  # one search guessed: two thirds of the cap
    assert near.admit("row-1", 0, 0) == "wait"  # with room for it by its guess: the old code sent it
    near.settle("row-0", _answer(0))  # no search after all: the tool estimate is learned, nothing
    assert near.admit("row-1", 0, 0) == "go"

    mixed = Spend.open(load_settings(tools="web_search", max_cost=0.095, model="gpt-4.1-mini"))
    assert mixed.admit("row-0", 0, 0) == "go"
    mixed.settle("row-0", _answer(1))  # $0.01 spent; one search learned: $0.0125 a row with the margin
    assert mixed.admit("row-1", 0, 0, guesses_left=9) == "go"  # the output still a guess: counts at 8x
    assert mixed.admit("row-2", 0, 0) == "wait", f"$0.01 + {GUESS_FACTOR} x $0.0125 + $0.0125: past $0.095"
    mixed.release("row-1")
    assert mixed.admit("row-2", 0, 0) == "go"


def test_answers_cheaper_than_their_guess_let_the_rows_on_it_go_as_the_estimate_allows() -> None:
    """The usual guess is high (1,024 output tokens guessed, 64 written): once such an answer is in, the
    rows on the guess count at their estimate again, and go as many at once as it allows, where at eight
    times it a cap of a few guesses sent the first ten one at a time (the demo's batch at $0.01 took
    17 s for 6 s)."""
    spend = Spend.open(load_settings(max_cost=0.01, model="gpt-4.1-mini"))
    assert spend.ledger.guess_factor == GUESS_FACTOR
    assert spend.admit("row-0", 100, DEFAULT_OUTPUT_ESTIMATE, guesses_left=10) == "go"
    assert spend.admit("row-1", 100, DEFAULT_OUTPUT_ESTIMATE, guesses_left=10) == "wait"
    spend.settle("row-0", _answer(0, input_tokens=100, output_tokens=64))
    assert spend.ledger.guess_factor == 1.0
    said = [spend.admit(f"row-{n}", 100, DEFAULT_OUTPUT_ESTIMATE, guesses_left=9) for n in range(1, 8)]
    assert said == ["go"] * 5 + ["wait"] * 2  # $0.00014 spent, five guesses of $0.0017 under $0.01
