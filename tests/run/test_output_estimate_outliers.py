"""One absurd output count does not hold back every later create.

The rate budget charges each create its prompt and the output estimate, the mean (with a margin) of the
answers seen. A user trial's server answered one row `output_tokens: 10**12`: the mean followed it, and
every later create waited about a minute for its tokens. A count beyond any model's output
(`MOST_OUTPUT_TOKENS`) is now unknown where usage arrives (tests/run/test_odd_usage.py); one an older
release wrote into a table a run resumes is learned as at most that.
"""

from __future__ import annotations

from pathlib import Path

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm.estimates import OutputEstimate
from rowrelay.tasks.llm.usage_counts import MOST_OUTPUT_TOKENS
from rowrelay.tasks.run import open_session
from tests.support.runs import new_table, prompts, settings_for

ROWS = 12


def test_one_outlier_moves_the_estimate_by_a_bounded_amount_that_fades() -> None:
    estimate = OutputEstimate(ceiling=None)
    for _ in range(9):
        estimate.observe(100)
    estimate.observe(50_000_000)  # beyond any model's output: what an older release's table may hold
    assert estimate.value() <= 1.25 * (900 + MOST_OUTPUT_TOKENS) / 10 + 1
    for _ in range(20_000):
        estimate.observe(100)
    assert estimate.value() < 250, "the outlier fades as answers come back"


async def test_a_resumed_table_holding_an_absurd_count_is_learned_capped(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A table an older release wrote, its answers 100 tokens each but one of 10**12, as that release
    copied a server's usage: the resumed run's estimate is near the answers', not 10**11."""
    table = new_table(tmp_path / "state", ROWS)
    for i in range(ROWS):
        key = f"row-{i:04d}"
        table.transition(key, "submitting", attempts=1)
        table.transition(key, "in_progress", response_id=f"resp_{i}")
        tokens = 10**12 if i == 0 else 100
        table.transition(key, "completed", output_text="done", input_tokens=10, output_tokens=tokens)
    session = open_session(settings_for(emulator), table, prompts(ROWS))
    try:
        assert session.budget.output.value() <= 1.25 * (1_100 + MOST_OUTPUT_TOKENS) / ROWS + 1
    finally:
        await session.aclose()
        table.close()
