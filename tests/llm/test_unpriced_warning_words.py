"""The missing-price warning says what the summary and `rowrelay status` then show: their cost unknown
(`cost: unknown: ...`), where it said they "show no spending"."""

from __future__ import annotations

from rowrelay.tasks.llm.prices import unpriced_warning


def test_the_missing_price_warning_says_the_cost_shows_as_unknown() -> None:
    said = unpriced_warning("openai", "gpt-9-turbo", "default")
    assert said.startswith(
        "no openai price known for model 'gpt-9-turbo': its rows get no cost_usd, and the summary and "
        "`rowrelay status` say their cost is unknown; if the name is right and it is billed, "
    ), said
    assert "no spending" not in said
