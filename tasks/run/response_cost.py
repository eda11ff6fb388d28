"""What one ended response cost: its tokens at the price list's rates for the tier it was served in, and
its server-side tool calls' fees. The one pricing rule of a run (`Spend.settle`, `Spend.paid_round`) and of
`rowrelay cancel` (`Spend.priced`), apart from the cap's arithmetic (`run.spend`, `run.ledger`).

    cost = response_cost(snapshot, prices, "openai", "gpt-4.1-mini", "default", tools)   # None: unpriced
"""

from __future__ import annotations

from rowrelay.tasks.llm import Snapshot
from rowrelay.tasks.llm.prices import TIERS, PriceTable, Provider, Tier, cost_usd
from rowrelay.tasks.run.tool_costs import ToolCosts

__all__ = ["response_cost"]


def response_cost(
    snapshot: Snapshot, prices: PriceTable, provider: Provider, model: str, tier: Tier, tools: ToolCosts
) -> float | None:
    """What one ended response cost, at the tier it reports it was served in (`tier`, the one asked for,
    when it says none): by the model asked for (`model`), else by the model the response names. None
    without usage, for a tier not billed per token, or for a model the price list does not know."""
    if snapshot.input_tokens is None or snapshot.output_tokens is None:
        return None
    served = snapshot.service_tier if snapshot.service_tier is not None else tier
    billed: Tier | None = "default" if served == "auto" else next((t for t in TIERS if t == served), None)
    if billed is None:
        return None  # e.g. `scale`: billed by a commitment, not per token
    rates = prices.rates(provider, model, billed)
    if rates is None and snapshot.model:
        rates = prices.rates(provider, snapshot.model, billed)
    if rates is None:
        return None
    tokens = cost_usd(
        rates,
        input_tokens=snapshot.input_tokens,
        cached_tokens=snapshot.cached_tokens or 0,
        output_tokens=snapshot.output_tokens,
    )
    return round(tokens + tools.fee(snapshot.tool_calls), 10) if tools.fees else tokens
