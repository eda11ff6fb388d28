"""A run's money: what its rows cost, what the rows in flight may still cost, and the spending cap.

    spend = Spend.open(settings, **spent_so_far(table))       # before any create
    spend.admit(key, prompt_tokens, output_tokens)            # the create path: "go", "wait" or "capped"
    cost = spend.settle(key, snapshot)                        # a response ended
    cost = spend.paid_round(key, snapshot)                    # a row moved on from it (tool round)

The cap (`--max-cost`) is one decision, `admit`: before each create, what the batch has spent (earlier runs
included) + what the rows in flight are estimated to cost + this row's estimate must stay within it. An
estimate is the row's prompt (about four characters a token, no cache hits assumed; its images and files as
`run.attached_tokens` learns them) at the input rate and the run's output estimate (`--max-output-tokens`,
else what answers have used so far, with a margin) at the output rate, plus its server-side tool calls
(`--tools`: `--max-tool-calls` of the dearest kind, else the mean of the answers so far, with the same margin:
`run.tool_costs`); until ten answers have come back that estimate is a guess, and fewer rows are in flight
than answers still to see, so no more than ten are paid for on it. While the output or the tool estimate is a
guess (the tool estimate until the first answer, with no `--max-tool-calls`), a row sent on it counts against
the room left at eight times its estimate until it ends (less once answers on a guess came back cheaper than
it: `run.ledger`'s `guess_factor`), and one that does not fit so goes alone once the others on a guess have
ended: near the cap, rows go one at a time until answers teach the estimate. A row that fits only once rows in
flight have ended (and their estimates became what they really cost, usually less) waits for them (`wait`); a
row that would not fit even with nothing in flight is refused, and from then on no row is sent this run
(`capped`): rows in flight finish, the rest stay to send. So a capped run ends within one row's estimate under
the cap, or past it by what its rows cost over their estimates: rows on a guess up to `guess_factor` times as
dear pass it by one row's excess at most (a row sent alone). A create whose answer never came may have started
a paid job: its estimate stays counted as spent, in this run and in every later run of the batch (the row's
`orphans`, `count_orphans`).

The arithmetic against the cap is the batch's one `run.ledger.Ledger`; a spend prices for it, an ended
response by the one pricing rule (`run.response_cost`). With several endpoints each has its own spend
(`at_endpoint`): its rows' estimates and costs at its own model's rates, all counted in the one ledger.

`admit` is arithmetic on floats already in memory: far from the cap it adds no latency to a create.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.hosted_tools import tool_list
from rowrelay.tasks.llm import Snapshot
from rowrelay.tasks.llm.prices import PriceTable, Provider, Rates, Tier, cap_problem, load_prices, provider_of
from rowrelay.tasks.llm.tool_fees import fees_of_run
from rowrelay.tasks.records import HOLDING_TOKEN, RowStatus
from rowrelay.tasks.run.cap_words import LeftToSend
from rowrelay.tasks.run.ledger import Admission, Ledger
from rowrelay.tasks.run.response_cost import response_cost
from rowrelay.tasks.run.tool_costs import ToolCosts
from rowrelay.tasks.setting_problems import option_of
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.reader import projected_cost, spent_of

__all__ = ["Admission", "Spend", "spent_so_far"]

log = logging.getLogger("rowrelay.spend")

_PER_TOKEN = 1e-6
_BILLED = frozenset({"completed", "incomplete"})
"""Ends whose tokens are billed: a failed or cancelled response's are not counted against the cap."""


@dataclass
class Spend:
    prices: PriceTable
    provider: Provider
    model: str
    """The model this spend prices rows at: the run's, or its endpoint's (`at_endpoint`)."""
    tier: Tier
    ledger: Ledger = field(default_factory=Ledger)
    """The batch's account against the cap: one for the run, shared by every endpoint's spend."""
    tools: ToolCosts = field(default_factory=ToolCosts)
    """What the rows' server-side tool calls cost, and may cost (empty `fees`: no tools)."""
    _rates: Rates | None = field(init=False)

    def __post_init__(self) -> None:
        self._rates = self.prices.rates(self.provider, self.model, self.tier)  # once: admit is hot

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        spent: float = 0.0,
        priced_rows: int = 0,
        tool_calls: int = 0,
        pricing_only: bool = False,
        prices: PriceTable | None = None,
        endpoints: Mapping[str, Settings] | None = None,
    ) -> Spend:
        """The run's spend, from its settings and what the batch's rows have cost so far (`spent_so_far`:
        `tool_calls` of its priced rows' responses, which the tool estimate starts from rather than from
        nothing); refuses a cap on a model with no known price (with `endpoints`, each endpoint's model:
        the run's own prices no row then, each endpoint's spend is `at_endpoint`). With `pricing_only`,
        what prices responses outside a run (`rowrelay cancel`): no cap at all. `prices`: the settings'
        price table, loaded by a caller that knows how its file was given (`load_prices`); else loaded
        here."""
        if prices is None:
            prices = load_prices(settings.prices)
        problem = None if pricing_only else cap_problem(settings, prices, endpoints=endpoints)
        if problem is not None:
            raise UsageError(problem)
        return cls(
            prices,
            provider_of(settings.backend),
            settings.model,
            settings.service_tier or "default",
            Ledger(None if pricing_only else settings.max_cost, spent, priced_rows),
            ToolCosts(
                fees_of_run(prices, tool_list(settings.tools), settings.model),
                settings.max_tool_calls,
                earlier=(tool_calls, priced_rows),
            ),
        )

    def at_endpoint(self, settings: Settings) -> Spend:
        """The spend of one endpoint's rows: priced at its own backend's price list and its own model
        (its entry's `model`, else the run's), counted in the run's one ledger against the one cap."""
        model = settings.model
        tools = ToolCosts(
            fees_of_run(self.prices, tool_list(settings.tools), model),
            settings.max_tool_calls,
            earlier=self.tools.earlier,
        )
        return Spend(self.prices, provider_of(settings.backend), model, self.tier, self.ledger, tools)

    def offer(self, tools: tuple[dict[str, Any], ...]) -> None:
        """Server-side tools the rows are offered beside `--tools`: an agent's own (its factory's
        `client.get_web_search_tool()`), known once its backend is built. Their calls are priced, and
        estimated under the cap, as those of `--tools` are; unknown to the settings, they cost nothing
        here, and a batch of web searches was priced at its tokens alone ($0.001 for $0.11)."""
        self.tools.offer(fees_of_run(self.prices, tools, self.model))

    @classmethod
    def unpriced(cls) -> Spend:
        """A spend that knows no price and caps nothing (a context built without settings)."""
        return cls(PriceTable({}, "no prices"), "openai", "", "default")

    @property
    def rates(self) -> Rates | None:
        """Prices of the model and tier this spend's rows ask for (what estimates use)."""
        return self._rates

    @property
    def committed(self) -> float:
        """Estimated cost of the rows in flight, on every endpoint."""
        return self.ledger.in_flight.total

    def admit(self, key: str, prompt_tokens: int, output_tokens: int, *, guesses_left: int = 0) -> Admission:
        """Whether row `key` may be sent now (`go`: its estimate is committed until it ends), once rows
        in flight have ended (`wait`, then ask again), or not this run (`capped`): `Ledger.admit` on its
        estimate at this spend's rates.

        `guesses_left`: answers still to see before the output estimate stops being the default guess
        (`OutputEstimate.guesses_left`). Under a cap, rows in flight stay fewer than that, so no more
        rows are paid for on the guess than it takes to learn: a reasoning model's answers can run many
        times the default, and each row sent on the guess may cost that much over its estimate. A row sent
        while the output estimate or the tool estimate (`ToolCosts.guessing`) is a guess is counted as
        sent on one (`Ledger.admit`'s `guessing`)."""
        guessing = bool(guesses_left) or (bool(self.tools.fees) and self.tools.guessing)
        estimate = self._estimate(prompt_tokens, output_tokens)
        return self.ledger.admit(key, estimate, guesses_left=guesses_left, guessing=guessing)

    def hold(self, key: str, prompt_tokens: int, output_tokens: int) -> None:
        """Count row `key`'s estimate as in flight without asking: a response an earlier run created, which
        this run waits on. It will be paid for whatever the cap says, so rows sent meanwhile must leave room
        for it: uncounted, a run resumed after a crash sent past the cap by what the rows it found in
        flight cost."""
        if self.ledger.cap is None or key in self.ledger.in_flight:
            return
        self.ledger.hold(key, self._estimate(prompt_tokens, output_tokens))

    def _estimate(self, prompt_tokens: int, output_tokens: int) -> float | None:
        """What a row may cost (None without a price): its tokens at this run's rates, and its tool calls."""
        rates = self._rates
        if rates is None:
            return None
        estimate = (prompt_tokens * rates.input + output_tokens * rates.output) * _PER_TOKEN
        return estimate + self.tools.estimate() if self.tools.fees else estimate

    async def changed(self, may_cost: Callable[[str], bool]) -> None:
        """Wait until a row in flight has ended, or a moment has passed and the estimates of rows that can
        no longer cost anything (`may_cost` says no) are dropped (`InFlightEstimates.changed`)."""
        await self.ledger.changed(may_cost)

    def release(self, key: str) -> float:
        """Drop row `key`'s estimate (its create started nothing, or it ended); returns it."""
        return self.ledger.release(key)

    def sent(self, key: str, status: RowStatus, error_type: str | None) -> None:
        """After a create: a row holding its token keeps its estimate until it ends; one whose create may
        have started an unseen job keeps it as (possibly) spent; one whose create started nothing
        returns it."""
        if status in HOLDING_TOKEN:
            return
        estimate = self.release(key)
        if error_type == "maybe_created":
            self.ledger.maybe_paid(estimate, creates=1)

    def count_orphans(
        self, orphans: Mapping[str, int], prompt_tokens: Callable[[str], int], output_tokens: int
    ) -> None:
        """Count under the cap the creates earlier runs lost the answers of (each row's `orphans`), each at
        the estimate this run gives its own lost creates (`prompt_tokens` of the row, `output_tokens`):
        their jobs may have been paid for as surely as this run's. Counted from this run alone, they were
        forgotten at every resume, and a run with the same cap went on past it. Once per row, at the
        dearest estimate: every endpoint's session asks, each at its own price (`Ledger.earlier_lost`).
        Counted with no cap too: the run's closing line says what the rows it sends again may have cost
        (`duplicates.earlier_of`), in the cap's figures."""
        for key, creates in orphans.items():
            estimate = self._estimate(prompt_tokens(key), output_tokens)
            if estimate is None:
                return  # no price: nothing is capped
            self.ledger.earlier_lost(key, estimate * creates, creates)

    def settle(self, key: str, snapshot: Snapshot) -> float | None:
        """A response ended: its cost (None without usage or a known price), now counted as spent. Priced
        before its estimate is released: a bug in pricing (logged) counts the answer at its estimate, as
        one without usage is. Released first, such a crash left the row in neither spent, lost nor
        committed, and a capped run sent other rows in the room its answer, paid for, took."""
        cost, crashed = self._priced(key, snapshot)
        estimate = self.ledger.settled(key, cost)  # sent on a guess, what it cost over it is learned
        if cost is None and estimate and snapshot.status in _BILLED:
            if crashed:
                self.ledger.lost += estimate
            elif snapshot.input_tokens is None or snapshot.output_tokens is None:
                self.ledger.unmetered(estimate)
        if cost is not None:
            self.ledger.paid(cost, row_ended=True)
            self.tools.paid(snapshot.tool_calls, row_ended=True)
        return cost

    def paid_round(self, key: str, snapshot: Snapshot) -> float | None:
        """A response a row moved on from (an agent's tool round asked for tools in it): its cost (None
        without usage or a known price), counted as spent at once, so the cap sees each round as it is
        paid for. The row stays in flight: its estimate stays committed until its last response ends,
        and a row's priced count and tool calls are counted once, at that end, as one row's. Counted
        nothing, a capped batch of agent rows spent past its cap by every round but the last."""
        cost = self.priced(key, snapshot)  # crashed, the round stays within the row's committed estimate
        if cost is not None:
            self.ledger.paid(cost, row_ended=False)
            self.tools.paid(snapshot.tool_calls, row_ended=False)  # the row's mean includes its rounds'
        return cost

    def priced(self, key: str, snapshot: Snapshot) -> float | None:
        """What row `key`'s ended response cost (`cost_of`), never raising: see `_priced`."""
        return self._priced(key, snapshot)[0]

    def _priced(self, key: str, snapshot: Snapshot) -> tuple[float | None, bool]:
        """`cost_of`, and whether it raised. A bug in pricing is logged and leaves the answer unpriced:
        raised, it kept the answer, paid for, from its row (a cancel's, a tool round's) or the row from
        its next response."""
        try:  # `response_cost` called here, not through `cost_of`: one call less per answer
            return response_cost(
                snapshot, self.prices, self.provider, self.model, self.tier, self.tools
            ), False
        except Exception:
            log.exception(
                "%s: pricing its answer failed: no cost_usd, %s counts its estimate",
                key,
                option_of("max_cost"),
            )
            return None, True

    def cost_of(self, snapshot: Snapshot) -> float | None:
        """What one ended response cost, at this spend's prices (`response_cost`)."""
        return response_cost(snapshot, self.prices, self.provider, self.model, self.tier, self.tools)

    @property
    def known(self) -> bool:
        """Whether this run can say what it spends: a price for its model, or rows already priced."""
        return self.ledger.priced_rows > 0 or self.rates is not None

    def projected(self, rows: int, ended: int) -> float | None:
        """The batch's cost if every row is run (`state.projected_cost`); None until a row has a cost."""
        return projected_cost(self.ledger.spent, self.ledger.priced_rows, rows, ended)

    def stop_message(self, left: LeftToSend) -> str | None:
        """What to tell the user when the cap stopped the run, else None (`cap_words.stop_message`)."""
        return self.ledger.stop_message(
            left, tools_unbounded=bool(self.tools.fees) and self.tools.max_calls is None
        )


def spent_so_far(table: StateTable) -> dict[str, Any]:
    """What the batch's rows have cost so far (earlier runs included), as `Spend.open` takes it."""
    columns = table.columns(None, ("cost_usd", "tool_calls"))
    spent, priced_rows = spent_of(columns)
    calls = pc.sum(columns.column("tool_calls")).as_py() if len(columns) else None
    return {"spent": spent or 0.0, "priced_rows": priced_rows, "tool_calls": calls or 0}
