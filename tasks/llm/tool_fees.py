"""What a run's server-side tool calls cost beside its tokens: USD per billed call, by the output item
type a response lists them as (`snapshots.tool_calls_of`), for the tools the run offers its model.

The price table keys fees by the tool's `type` (`prices.json`, `tool_calls`); a dated type
(`web_search_2025_08_26`) is billed as its family. Web search preview is dearer on models that do not
reason, and which models reason is told from their names here (o-series, gpt-5, deep research): an
Azure deployment of any other name is billed the dearer fee, an upper bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rowrelay.tasks.hosted_tools import tool_family
from rowrelay.tasks.llm.prices import PriceTable, ToolFee

__all__ = ["fees_of_run", "tool_fee"]

_ITEM_OF_TOOL = {
    "web_search": "web_search_call",
    "web_search_preview": "web_search_call",
    "file_search": "file_search_call",
    "code_interpreter": "code_interpreter_call",
}
"""Billed tool families, and the output item type a response lists their calls as."""
_REASONING_MODEL = re.compile(r"(o\d|gpt-5)(\b|[-.])|.*deep-research")


def fees_of_run(table: PriceTable, tools: tuple[Mapping[str, Any], ...], model: str) -> dict[str, float]:
    """USD per call by output item type, for the tools offered (the first of a family decides its fee);
    a tool the table has no fee for costs nothing here, as a tool with no fee (MCP) does."""
    fees: dict[str, float] = {}
    for tool in tools:
        family = tool_family(str(tool.get("type")))
        fee = table.tool_calls.get(family)
        item = _ITEM_OF_TOOL.get(family)
        if fee is not None and item is not None and item not in fees:
            fees[item] = _per_call(fee, model)
    return fees


def tool_fee(calls: Mapping[str, int] | None, fees: Mapping[str, float]) -> float:
    """What one response's tool calls cost."""
    if not calls or not fees:
        return 0.0
    return sum(count * fees.get(item, 0.0) for item, count in calls.items())


def _per_call(fee: ToolFee, model: str) -> float:
    if fee.reasoning_models is not None and _REASONING_MODEL.match(model):
        return fee.reasoning_models
    return fee.per_call
