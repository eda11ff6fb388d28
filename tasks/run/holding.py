"""A run's progress with what holds its calls back (`RateBudget.held`): pauses of creates or polls, and
a create waiting long for a budget, which the progress line says with how much longer they last.

A subclass, not a field of `Progress`, while runner.py is being changed by others: the session wraps
its runner's progress (`telling_holds`), and every copy made with `dataclasses.replace` keeps it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from rowrelay.tasks.llm.budget import RateBudget
from rowrelay.tasks.llm.holds import Hold
from rowrelay.tasks.run.runner import Progress


@dataclass(frozen=True)
class HeldProgress(Progress):
    held: tuple[Hold, ...] = ()


def telling_holds(progress: Callable[[Progress], None], budget: RateBudget) -> Callable[[Progress], None]:
    """`progress`, told each moment with what holds `budget`'s calls back at it."""

    def tell(update: Progress) -> None:
        moment = {each.name: getattr(update, each.name) for each in fields(update)}
        progress(HeldProgress(**moment, held=budget.held()))

    return tell
