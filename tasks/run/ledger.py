"""The batch's one account against its cost cap (`--max-cost`): what was spent, what may have been spent
unseen, what the rows in flight may still cost, and the decision whether a row may be sent.

    ledger = Ledger(cap=0.50, spent=0.12, priced_rows=40)   # one per run, shared by every endpoint
    ledger.admit(key, estimate)                              # "go", "wait" or "capped"
    ledger.paid(cost, row_ended=True)                        # a priced response ended

Apart from `spend`, which prices: a row's estimate and an answer's cost are in the rates of the endpoint
that sends the row (`Spend`, one per endpoint, each with its own model), and all of them are counted here,
in dollars, against the one cap. Priced at the run's `--model` alone, an endpoint serving another model
had its rows costed at made-up figures, and the cap capped those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from rowrelay.tasks.run.cap_words import LeftToSend, LostCreates, stop_message
from rowrelay.tasks.run.in_flight_estimates import InFlightEstimates
from rowrelay.tasks.setting_problems import option_of

__all__ = ["Admission", "Ledger"]

log = logging.getLogger("rowrelay.spend")

Admission = Literal["go", "wait", "capped"]


@dataclass
class Ledger:
    cap: float | None = None
    spent: float = 0.0
    """Known cost of the batch's rows: the table's `cost_usd` when the run began, plus what ended since."""
    priced_rows: int = 0
    """Rows whose cost is known (for the projection)."""
    capped: bool = False
    """A create was refused at the cap: no row is sent again this run."""
    lost: float = 0.0
    """Estimates of what may have been spent unseen, counted against the cap: creates that may have started
    a job nobody can see (`duplicates`), and answers the server gave without their token usage (some
    OpenAI-compatible servers), whose cost is unknown but not nothing."""
    duplicates: LostCreates = field(default_factory=LostCreates)
    """The batch's creates that may have started a job no answer named, this run's and earlier runs' (the
    rows' `orphans`): the part of `lost` the stop's message names as possible duplicates."""
    in_flight: InFlightEstimates = field(default_factory=InFlightEstimates)
    _told_unmetered: bool = False

    def admit(self, key: str, estimate: float | None, *, guesses_left: int = 0) -> Admission:
        """Whether row `key`, estimated at `estimate` (None: no price), may be sent now (`go`: its estimate
        is committed until it ends), once rows in flight have ended (`wait`), or not this run (`capped`);
        `guesses_left` as `Spend.admit` says."""
        if self.capped:
            return "capped"
        self.release(key)  # a row sent again replaces its earlier estimate
        if estimate is None:
            return "go"  # no cap without a price (`prices.cap_problem`), so nothing to hold back
        if self.cap is not None:
            if self.spent + self.lost + estimate > self.cap:
                self.capped = True
                return "capped"
            if guesses_left and len(self.in_flight) >= guesses_left:
                return "wait"
            if self.spent + self.lost + self.in_flight.total + estimate > self.cap:
                return "wait"
        self.in_flight.add(key, estimate)
        return "go"

    def hold(self, key: str, estimate: float | None) -> None:
        """Count row `key` as in flight without asking (`Spend.hold`)."""
        if self.cap is None or key in self.in_flight or estimate is None:
            return
        self.in_flight.add(key, estimate)

    def release(self, key: str) -> float:
        """Drop row `key`'s estimate (its create started nothing, or it ended); returns it."""
        return self.in_flight.release(key)

    async def changed(self, may_cost: Callable[[str], bool]) -> None:
        """`InFlightEstimates.changed`: a row in flight ended, or estimates left behind were dropped."""
        await self.in_flight.changed(may_cost)

    def maybe_paid(self, estimate: float, *, creates: int) -> None:
        """Creates whose answers were lost: counted against the cap, and named by the stop's message."""
        self.lost += estimate
        self.duplicates.add(estimate, creates)

    def earlier_lost(self, key: str, estimate: float, creates: int) -> None:
        """Row `key`'s `creates` lost by earlier runs, at `estimate` (all of them): counted once per row,
        at the dearest estimate any endpoint's session gives them. The row's next create may go to any
        endpoint, and where its lost ones went is not known: counted at the first session's price, a
        cheaper endpoint's, the cap could be passed by the difference."""
        more = self.duplicates.at_least(key, estimate, creates)
        self.lost += more

    def paid(self, cost: float, *, row_ended: bool) -> None:
        """A priced response: counted as spent; a row's end also counts a priced row (per response: a row's
        second priced attempt counts again, the mean is per response)."""
        self.spent += cost
        if row_ended:
            self.priced_rows += 1

    def unmetered(self, estimate: float) -> None:
        """An answer without its usage (a server that leaves it out): counted at its estimate, since it
        was paid for; counted as nothing, a capped run sent every row past its cap."""
        self.lost += estimate
        if not self._told_unmetered:
            self._told_unmetered = True
            log.warning(
                "the server answers without token usage: its rows get no cost_usd, and %s counts "
                "each at its estimate (prompt tokens and the output ceiling)",
                option_of("max_cost"),
            )

    def stop_message(self, left: LeftToSend, tools_unbounded: bool = False) -> str | None:
        """What to tell the user when the cap stopped the run, else None (`cap_words.stop_message`)."""
        if not self.capped or self.cap is None:
            return None
        return stop_message(self.spent + self.lost, self.duplicates, self.cap, left, tools_unbounded)
