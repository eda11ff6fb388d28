"""What a row's server-side tool calls cost, and may cost before it is sent, learned from the answers as
the output estimate is (`llm.budget.OutputEstimate`).

A row offered tools (`--tools`, or an agent's own web search) pays per call on top of its tokens, at the
fee of the call's kind (`llm.tool_fees`), and how many calls it makes is known only once it has answered.
So under `--max-cost` a row's tool calls are estimated at most `--max-tool-calls` of the dearest kind
offered when a ceiling is set; else at the mean of the answers so far (this run's, and the batch's earlier
rows', each of those calls at the dearest fee: never under) with the output estimate's 25% margin; before
the first, at one call of the dearest kind.

    tools = ToolCosts(fees_of_run(prices, tools, model), max_calls, earlier=(calls, priced_rows))
    tools.estimate()                                  # before a create, when `tools.fees` is not empty
    tools.paid(snapshot.tool_calls, row_ended=True)   # a priced response ended

Apart from `spend`, which adds this estimate to a row's tokens' under the cap: what is learned here (the
fees offered, the calls seen, the rows they came from) is a second estimate with its own state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rowrelay.tasks.llm.tool_fees import tool_fee

__all__ = ["ToolCosts"]

_MARGIN = 1.25
"""Over the mean tool fee of the answers so far, as the output estimate's margin over their mean."""


@dataclass
class ToolCosts:
    fees: dict[str, float] = field(default_factory=dict)
    """USD per server-side tool call by output item type (`tool_fees.fees_of_run`); empty: no tools."""
    max_calls: int | None = None
    """`--max-tool-calls`: the most calls one row's response may make (None: no ceiling)."""
    earlier: tuple[int, int] = (0, 0)
    """The batch's tool calls and priced rows before this run, for a tool mean learnt from them."""
    _fees: float = 0.0
    """What the tool calls of the responses settled this run cost, to learn a row's mean from."""
    _settled: int = 0

    def __post_init__(self) -> None:
        self._learn_earlier_calls()

    def offer(self, fees: Mapping[str, float]) -> None:
        """Fees of tools offered beside those known at the start (an agent's own): added, a kind already
        known keeping its fee."""
        added = {item: fee for item, fee in fees.items() if item not in self.fees}
        if added:
            had = bool(self.fees)
            self.fees = {**self.fees, **added}
            if not had:
                self._learn_earlier_calls()

    def _learn_earlier_calls(self) -> None:
        calls, priced = self.earlier
        if self.fees and priced:  # each earlier call at the dearest fee offered: never under
            self._fees, self._settled = calls * max(self.fees.values()), priced

    def fee(self, calls: Mapping[str, int] | None) -> float:
        """What one response's tool calls cost."""
        return tool_fee(calls, self.fees)

    def paid(self, calls: Mapping[str, int] | None, *, row_ended: bool) -> None:
        """A priced response's calls, to learn the mean from: per row, so a row's tool rounds count
        towards the row whose last response ends it (`row_ended`)."""
        if self.fees:
            self._fees += self.fee(calls)
            if row_ended:
                self._settled += 1

    @property
    def guessing(self) -> bool:
        """Whether `estimate` is still the guess of one call (no ceiling, no answer yet): the cap counts a
        row sent on it at more than its estimate (`run.ledger`)."""
        return self.max_calls is None and not self._settled

    def estimate(self) -> float:
        """What a row's tool calls may cost (with `fees` not empty): at most `max_calls` of the dearest
        kind when a ceiling is set; else the mean of the answers so far (this run's, and the batch's
        earlier rows') with the output estimate's margin; before the first, one call of the dearest kind
        (a row offered a tool was guessed to make none, so a capped run of searches spent several times
        its cap on that guess)."""
        dearest = max(self.fees.values())
        if self.max_calls is not None:
            return self.max_calls * dearest
        return self._fees / self._settled * _MARGIN if self._settled else dearest
