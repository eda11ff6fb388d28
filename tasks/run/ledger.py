"""The batch's one account against its cost cap (`--max-cost`): what was spent, what may have been spent
unseen, what the rows in flight may still cost, and the decision whether a row may be sent.

    ledger = Ledger(cap=0.50, spent=0.12, priced_rows=40)   # one per run, shared by every endpoint
    ledger.admit(key, estimate)                              # "go", "wait" or "capped"
    ledger.paid(cost, row_ended=True)                        # a priced response ended

Apart from `spend`, which prices: a row's estimate and an answer's cost are in the rates of the endpoint
that sends the row (`Spend`, one per endpoint, each with its own model), and all of them are counted here,
in dollars, against the one cap. Priced at the run's `--model` alone, an endpoint serving another model
had its rows costed at made-up figures, and the cap capped those.

A row sent while its estimate is still a guess (`admit(..., guessing=True)`: the output estimate before
ten answers, the tool estimate before the first) may cost several times that guess: a trial's web
searches, guessed at one a row, came back three, and its rows in flight, each fitting under its $0.05 cap
by its guess, spent $0.11. So while in flight such rows count against the room left at `guess_factor`
times their estimate: `GUESS_FACTOR`, until rows sent on a guess have been answered below it, and then
that factor times the dearest of their costs over their estimates (at least 1: never below the estimate).
A row on a guess that does not fit so waits for the rows on a guess to end, and then goes alone if its
estimate fits: the first row is never held back by the rule (a guess may be high), and near the cap rows
go one at a time until answers have taught the estimate. Rows up to `guess_factor` times as dear as their
guess end within the cap, or past it by what the one row sent alone cost over its estimate; dearer rows,
by what the rows on a guess in flight cost over the factor times their estimates (near the cap, again one
row's).

Chosen over scaling the rows in flight by room / estimate, which is what the plain arithmetic already did
(the trial's four rows fitted by their guesses), and over a share of the room as a threshold, which is
this factor said less plainly: the factor is what the rule promises. Far from the cap the weighted sum
fits as the plain one does, and nothing is held back. Scaled down by answers cheaper than their guess
(the usual case: 1,024 output tokens guessed, a few hundred written), because at the fixed factor a cap
of a few guesses sent the first ten rows one at a time however cheap they came back: the demo's batch
at $0.01, on answers of a second, took 17 s where it had taken 6 s. Never raised past `GUESS_FACTOR` by
answers dearer than their guess: once the first answer has taught the tool estimate the rows after it
are estimated at what it learned, and a factor raised by the guess it replaced would count that twice.
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

GUESS_FACTOR = 8.0
"""Times its estimate a row sent on a guess counts against the room left while in flight: past the
trial's three searches for a guess of one, a deep research model's three to eight, and a reasoning
model's several thousand tokens for a guess of 1,024. The price is paid near the cap alone: the nine rows
on a guess the count allows go at once as before under a cap of 72 of their estimates (a guessed
gpt-4.1-mini row's is $0.0017: $0.12; an o3 row's $0.0082: $0.59), and under less fewer go at a time."""


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
    _dearest_guess: float | None = None
    """The most a row answered after being sent on a guess cost over its estimate (None: none yet)."""
    unmetered_answers: LostCreates = field(default_factory=LostCreates)
    """Answers the server gave without their token usage, at their estimates: the part of `lost` the
    stop's message names as such, not as spent (their cost is not known)."""
    _told_unmetered: bool = False

    def admit(
        self, key: str, estimate: float | None, *, guesses_left: int = 0, guessing: bool | None = None
    ) -> Admission:
        """Whether row `key`, estimated at `estimate` (None: no price), may be sent now (`go`: its estimate
        is committed until it ends), once rows in flight have ended (`wait`), or not this run (`capped`);
        `guesses_left` as `Spend.admit` says; `guessing`: the estimate is still a guess (by default, while
        `guesses_left`), and the row counts as the module's docstring says."""
        if self.capped:
            return "capped"
        self.release(key)  # a row sent again replaces its earlier estimate
        if estimate is None:
            return "go"  # no cap without a price (`prices.cap_problem`), so nothing to hold back
        guessed = bool(guesses_left) if guessing is None else guessing
        if self.cap is not None:
            if self.spent + self.lost + estimate > self.cap:
                self.capped = True
                return "capped"
            if guesses_left and len(self.in_flight) >= guesses_left:
                return "wait"
            if self.spent + self.lost + self.in_flight.total + estimate > self.cap:
                return "wait"
            if self.in_flight.guessed and self._weighted(estimate, guessed) > self.cap:
                return "wait"  # rows on a guess in flight: this one goes once they have ended
        self.in_flight.add(key, estimate, guessed=guessed)
        return "go"

    def _weighted(self, estimate: float, guessed: bool) -> float:
        """What the batch may have cost with row estimated at `estimate` sent: the rows in flight on a
        guess (and this one, if on a guess) counted at `guess_factor` times their estimate."""
        factor, flight = self.guess_factor, self.in_flight
        more = (factor - 1.0) * flight.guessed_total + (factor if guessed else 1.0) * estimate
        return self.spent + self.lost + flight.total + more

    @property
    def guess_factor(self) -> float:
        """Times its estimate a row in flight on a guess counts against the cap: `GUESS_FACTOR`, scaled
        down by the dearest answer sent on a guess, if that cost less than its estimate (at least 1)."""
        dearest = self._dearest_guess
        return GUESS_FACTOR if dearest is None else max(1.0, GUESS_FACTOR * min(1.0, dearest))

    def hold(self, key: str, estimate: float | None) -> None:
        """Count row `key` as in flight without asking (`Spend.hold`)."""
        if self.cap is None or key in self.in_flight or estimate is None:
            return
        self.in_flight.add(key, estimate)

    def release(self, key: str) -> float:
        """Drop row `key`'s estimate (its create started nothing, or it ended); returns it."""
        return self.in_flight.release(key)

    def settled(self, key: str, cost: float | None) -> float:
        """Row `key` ended at `cost` (None: unpriced): its estimate dropped and returned; sent on a guess,
        what it cost over that estimate is learned (`guess_factor`)."""
        guessed = self.in_flight.on_guess(key)
        estimate = self.release(key)
        if guessed and cost is not None and estimate > 0.0:
            self._dearest_guess = max(self._dearest_guess or 0.0, cost / estimate)
        return estimate

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
        self.unmetered_answers.add(estimate, 1)
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
        return stop_message(
            self.spent + self.lost,
            self.duplicates,
            self.cap,
            left,
            tools_unbounded,
            unmetered=self.unmetered_answers,
        )
