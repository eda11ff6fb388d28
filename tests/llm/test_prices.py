"""The price table: shipped dated and sourced, found by name or alias only, overridable by a file."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import pytest

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.prices import PriceFile, Rates, cost_usd, load_prices, provider_of


def test_every_shipped_figure_names_a_source_the_file_describes() -> None:
    text = resources.files("rowrelay.tasks.llm").joinpath("prices.json").read_text(encoding="utf-8")
    shipped = PriceFile.model_validate_json(text)
    assert shipped.date is not None
    assert shipped.note is not None
    for models in shipped.providers.values():
        for prices in models.values():
            tiers = [rates for rates in (prices.default, prices.flex, prices.priority) if rates is not None]
            assert prices.default is not None
            assert all(rates.source in shipped.sources for rates in tiers)


def test_a_model_is_found_by_its_name_or_an_alias_never_by_a_guess() -> None:
    table = load_prices(None)
    mini = table.rates("openai", "gpt-4.1-mini", "default")
    assert mini is not None
    assert table.rates("openai", "gpt-4.1-mini-2025-04-14", "default") == mini
    assert table.rates("openai", "gpt-4.1-mini-2031-01-01", "default") is None
    assert table.rates("openai", "gpt-4.1-mini", "flex") is None  # no sourced figure: no price
    assert table.rates("azure", "o4-mini", "default") is None
    assert provider_of("azure") == "azure"
    assert provider_of("emulator") == provider_of("openai") == "openai"


def test_a_price_file_replaces_and_adds_entries(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    entry = {"default": {"input": 1.0, "output": 2.0}}
    path.write_text(json.dumps({"providers": {"openai": {"gpt-4.1-mini": entry}, "azure": {"dep": entry}}}))
    table = load_prices(path)
    assert table.rates("openai", "gpt-4.1-mini", "default") == Rates(input=1.0, output=2.0)
    assert table.rates("openai", "gpt-4.1-mini", "priority") is None  # the whole entry is replaced
    assert table.rates("azure", "dep", "default") == Rates(input=1.0, output=2.0)
    assert table.rates("openai", "o3", "default") is not None  # the rest of the shipped table stays
    assert str(path) in table.origin


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[", "not JSON"),
        ('{"providers": {"mistral": {}}}', "providers.mistral"),
        ('{"providers": {"openai": {"m": {"default": {"input": 1}}}}}', "providers.openai.m.default.output"),
        (
            '{"providers": {"openai": {"m": {"turbo": {"input": 1, "output": 1}}}}}',
            r"providers\.openai\.m\.turbo: unknown field "
            r"\(this entry takes aliases, default, flex, priority\)$",
        ),
        (
            '{"providers": {"openai": {"m": {"default": {"inpt": 1, "output": 1}}}}}',
            r"providers\.openai\.m\.default\.input: Field required$",  # the first problem pydantic met
        ),
        (
            '{"providers": {"openai": {"m": {"flex": {"input": 1, "output": 1, "cost": 2}}}}}',
            r"flex\.cost: unknown field \(this entry takes input, output, cached_input, source\)$",
        ),
        (
            '{"provider": {}}',
            r"provider: unknown field \(this entry takes date, unit, note, sources, providers, tool_calls\)$",
        ),
    ],
)
def test_a_bad_price_file_is_one_usage_error_naming_it(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=f"^--prices {path}: .*{problem}") as caught:
        load_prices(path, named="--prices")
    assert "\n" not in str(caught.value)


def test_cached_tokens_are_charged_at_the_cached_rate_or_else_the_input_rate() -> None:
    with_cache = Rates(input=2.0, cached_input=0.5, output=8.0)
    without = Rates(input=2.0, output=8.0)
    usage = {"input_tokens": 1_000_000, "cached_tokens": 400_000, "output_tokens": 100_000}
    assert cost_usd(with_cache, **usage) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 8.0)
    assert cost_usd(without, **usage) == pytest.approx(1.0 * 2.0 + 0.1 * 8.0)
    assert cost_usd(with_cache, input_tokens=10, cached_tokens=99, output_tokens=0) == pytest.approx(5e-6)
    # no float noise in what outputs write: 11 input and 15 output tokens at gpt-4.1-mini's 0.4 and 1.6 $/1M
    mini = Rates(input=0.4, cached_input=0.1, output=1.6)
    assert repr(cost_usd(mini, input_tokens=11, cached_tokens=0, output_tokens=15)) == "2.84e-05"


def test_a_run_parses_its_price_file_once_while_it_stays_as_it_is(tmp_path: Path) -> None:
    """Built twice (by the CLI, then by the flow), its cap checked and its spend opened, a run read and
    validated its price file four times or more; an edited file is read again (a warm runner's next run)."""
    from rowrelay.flows.request import BatchRequest
    from rowrelay.tasks.llm.prices import _with_file, cap_problem
    from rowrelay.tasks.run.spend import Spend

    path = tmp_path / "prices.json"
    path.write_text('{"providers": {"openai": {"m": {"default": {"input": 1, "output": 2}}}}}')
    _with_file.cache_clear()
    for _ in range(2):
        request = BatchRequest.build("in.csv", template="{a}", prices=str(path), model="m", max_cost=5)
    assert cap_problem(request.settings, request.price_table()) is None
    spend = Spend.open(request.settings)
    assert spend.rates == Rates(input=1, output=2)
    assert _with_file.cache_info().misses == 1
    path.write_text('{"providers": {"openai": {"m": {"default": {"input": 3, "output": 4}}}}}')
    os.utime(path, ns=(1, 1))  # another modification time, however coarse the file system's clock
    assert Spend.open(request.settings).rates == Rates(input=3, output=4)
