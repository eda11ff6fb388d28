"""What models cost: the price table shipped with rowrelay, a user's price file over it, one response's cost.

    table = load_prices(None)                       # rowrelay's table (prices.json, dated, sourced)
    rates = table.rates("openai", "gpt-4.1-mini", "default")
    cost_usd(rates, input_tokens=1200, cached_tokens=1024, output_tokens=300)

`prices.json` holds, per provider (`openai`, `azure`) and model, USD per 1M tokens for input, cached input
and output, per service tier (`default`, `flex`, `priority`), each figure naming its source; the file says
when it was collected. A price file (`--prices FILE`, `ROWRELAY_PRICES`) has the same shape and replaces
the entries it names, so a user can add a model, an Azure deployment, or a newer figure:

    {"providers": {"azure": {"my-deployment": {
        "default": {"input": 0.4, "cached_input": 0.1, "output": 1.6}}}}}

A model is found by its name or one of its `aliases` (dated snapshots, as responses name them), never by
guessing: a name the table does not hold has no price.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.setting_problems import given_as, option_of
from rowrelay.tasks.settings import Settings

Tier = Literal["default", "flex", "priority"]
TIERS: tuple[Tier, ...] = get_args(Tier)
Provider = Literal["openai", "azure"]
_PER_TOKEN = 1e-6  # prices are per 1M tokens


class Rates(BaseModel):
    """USD per 1M tokens for one model at one tier. Without `cached_input`, cached tokens are charged at
    the input rate (an upper bound): no discount is assumed that no source gave."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)
    source: str | None = None


class ToolFee(BaseModel):
    """USD per call of one server-side tool (per container for the code interpreter), billed beside the
    tokens; `reasoning_models`: the fee when the model reasons, where it differs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    per_call: float = Field(ge=0)
    reasoning_models: float | None = Field(None, ge=0)
    source: str | None = None


class ModelPrices(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    aliases: tuple[str, ...] = ()
    default: Rates | None = None
    flex: Rates | None = None
    priority: Rates | None = None


class PriceFile(BaseModel):
    """The shape of prices.json and of a user's price file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    date: str | None = None
    unit: str | None = None
    note: str | None = None
    sources: dict[str, str] = Field(default_factory=dict)
    providers: dict[Provider, dict[str, ModelPrices]] = Field(default_factory=dict)
    tool_calls: dict[str, ToolFee] = Field(default_factory=dict)
    """Fees of server-side tools by the tool's `type` (`web_search`, `file_search`, ...)."""


@dataclass(frozen=True)
class PriceTable:
    """Prices by (provider, model name or alias), and where they came from."""

    models: Mapping[tuple[str, str], ModelPrices]
    origin: str
    tool_calls: Mapping[str, ToolFee] = field(default_factory=dict)

    def rates(self, provider: Provider, model: str, tier: Tier) -> Rates | None:
        """The model's prices at `tier`, or None when the table has none."""
        prices = self.models.get((provider, model))
        return None if prices is None else getattr(prices, tier)


def cost_usd(rates: Rates, *, input_tokens: int, cached_tokens: int, output_tokens: int) -> float:
    """One response's cost. `input_tokens` includes the cached ones, as the API's usage counts them;
    `output_tokens` includes reasoning tokens, which are priced as output."""
    cached = min(max(cached_tokens, 0), input_tokens)
    cached_rate = rates.input if rates.cached_input is None else rates.cached_input
    dollars = (input_tokens - cached) * rates.input + cached * cached_rate + output_tokens * rates.output
    # Rounded to 1e-10 dollars (a token's price is at least 1e-8): the product's float noise
    # (2.8399999999999996e-05) was written into every CSV and JSONL output.
    return round(dollars * _PER_TOKEN, 10)


def provider_of(backend: str) -> Provider:
    """Whose price list a backend's rows are billed by: Azure's for `azure`, else OpenAI's (the emulator
    imitates OpenAI, so a demo shows what the same rows would cost there)."""
    return "azure" if backend == "azure" else "openai"


def load_prices(path: Path | None, *, named: str | None = None) -> PriceTable:
    """rowrelay's table, with the entries of the price file at `path` (if any) over it.

    A file that cannot be read, is not JSON, or does not have the table's shape is a `UsageError` in one
    line naming it, and the setting as it was given (`named`: `--prices`, or `ROWRELAY_PRICES`; where
    that is not known, as on a Dask worker, "the price file"). A file is parsed once while it stays as
    it is: a run asks for its prices as its request is built (twice in the flow's process), as its cost
    cap is checked and as its spend opens, and each read and validated the whole file again."""
    shipped = _shipped()
    if path is None:
        return PriceTable(_index(shipped), f"rowrelay's price table of {shipped.date}", shipped.tool_calls)
    said = f"{named or 'the price file'} {path}"
    try:
        stat = Path(path).stat()
        return _with_file(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise UsageError(f"{said}: cannot read it ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{said}: not JSON ({exc.msg}, line {exc.lineno})") from exc
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "the file"
        raise UsageError(f"{said}: {where}: {_said(problem)}") from exc


@functools.lru_cache(maxsize=8)
def _with_file(path: str, modified_ns: int, size: int) -> PriceTable:
    """The table with the file at `path` over it, as it was when it had this modification time and size
    (the cache's key: a file edited between two runs of one warm process is read again)."""
    given = PriceFile.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    return _over(given, path)


def prices_over(entries: Mapping[str, Any], origin: str) -> PriceTable:
    """rowrelay's table with `entries`, a price file's content (as `run.json` keeps a batch's), over it,
    said to come from `origin`; `ValidationError` for entries not of a price file's shape."""
    return _over(PriceFile.model_validate(entries), origin)


def _over(given: PriceFile, origin: str) -> PriceTable:
    shipped = _shipped()
    merged = {**_index(shipped), **_index(given)}
    said = f"rowrelay's price table of {shipped.date}, with {origin} over it"
    return PriceTable(merged, said, {**shipped.tool_calls, **given.tool_calls})


_ENTRIES: dict[int, type[BaseModel]] = {1: PriceFile, 3: ToolFee, 4: ModelPrices, 5: Rates}
"""The entry a field's location (its depth) is in: the file; tool_calls.TOOL; providers.P.MODEL;
providers.P.MODEL.TIER."""


def _said(problem: Any) -> str:
    """pydantic's message, but an unknown field (a typo: `inpt`, `turbo`) names the fields its entry takes,
    where pydantic said only "Extra inputs are not permitted"."""
    entry = _ENTRIES.get(len(problem["loc"]))
    if problem["type"] != "extra_forbidden" or entry is None:
        return str(problem["msg"])
    return f"unknown field (this entry takes {', '.join(entry.model_fields)})"


@functools.cache
def _shipped() -> PriceFile:
    text = resources.files("rowrelay.tasks.llm").joinpath("prices.json").read_text(encoding="utf-8")
    return PriceFile.model_validate_json(text)


def _index(prices: PriceFile) -> dict[tuple[str, str], ModelPrices]:
    index: dict[tuple[str, str], ModelPrices] = {}
    for provider, models in prices.providers.items():
        for name, entry in models.items():
            for known_as in (name, *entry.aliases):
                index[(provider, known_as)] = entry
    return index


def cap_problem(
    settings: Settings, prices: PriceTable | None = None, *, endpoints: Mapping[str, Settings] | None = None
) -> str | None:
    """Why a run with these settings may not start (a cap on a model with no known price), else None.
    With `endpoints` (each endpoint's full settings, by name), each endpoint's model is asked for, and
    named with its endpoint: its rows are priced at it, and the run's own `--model` prices none of them.
    Without `prices`, the settings' are loaded: a price file that is not valid raises its own
    `UsageError`."""
    if prices is None:
        prices = load_prices(settings.prices)
    if settings.max_cost is None:
        return None
    for endpoint, asked in endpoints.items() if endpoints else [(None, settings)]:
        provider, tier = provider_of(asked.backend), asked.service_tier or "default"
        if prices.rates(provider, asked.model, tier) is None:
            where = "" if endpoint is None else f"endpoint {endpoint!r}: "
            no_price = _no_price(provider, asked.model, tier)
            return f"{option_of('max_cost')}: {where}{no_price}, so spending cannot be capped; " + _add(
                provider, asked.model, tier
            )
    return None


def unpriced_warning(provider: Provider, model: str, tier: Tier, endpoint: str | None = None) -> str:
    """What a run says at its start when the price table has no price for what it asks for (for the rows
    of `endpoint`, when it names one)."""
    head = unpriced_head(provider, model, tier, endpoint)
    return (
        f"{head}: its rows get no cost_usd, and the summary and `rowrelay "
        f"status` say their cost is unknown; if the name is right and it is billed, "
        f"{_add(provider, model, tier)}"
    )


def unpriced_head(provider: Provider, model: str, tier: Tier, endpoint: str | None = None) -> str:
    """What has no price, in words (`endpoint 'vllm': no openai price known for model 'Qwen/Qwen3-8B'`):
    the warning's start, and what a batch's run.json keeps once it was said (`RunRecord.unpriced_said`)."""
    where = "" if endpoint is None else f"endpoint {endpoint!r}: "
    return f"{where}{_no_price(provider, model, tier)}"


def _no_price(provider: Provider, model: str, tier: Tier) -> str:
    at = "" if tier == "default" else f" at service tier {tier!r}"
    return f"no {provider} price known for model {model!r}{at}"


def _add(provider: Provider, model: str, tier: Tier) -> str:
    return (
        f'add one in a price file, e.g. {{"providers": {{"{provider}": {{"{model}": {{"{tier}": {{"input": '
        'IN, "cached_input": CACHED, "output": OUT}}}}} (your prices, USD per 1M tokens), and pass it '
        f"with {given_as('prices', 'FILE')} or ROWRELAY_PRICES"
    )
