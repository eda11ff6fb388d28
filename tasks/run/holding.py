"""A run's progress with what holds its calls back (`RateBudget.held`, `CreateHold.held`): pauses of
creates or polls, a create waiting long for a budget, creates going one at a time while their answers
are lost, which the progress line says with how much longer they last.

A subclass, not a field of `Progress`, while runner.py is being changed by others: the session wraps
its runner's progress (`telling_holds`), and every copy made with `dataclasses.replace` keeps it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from rowrelay.tasks.llm.budget import RateBudget
from rowrelay.tasks.llm.holds import Hold
from rowrelay.tasks.run.outage import CreateHold
from rowrelay.tasks.run.progress import Progress


@dataclass(frozen=True)
class HeldProgress(Progress):
    held: tuple[Hold, ...] = ()


def telling_holds(
    progress: Callable[[Progress], None], budget: RateBudget, hold: CreateHold, endpoint: str | None = None
) -> Callable[[Progress], None]:
    """`progress`, told each moment with what holds the run's calls back at it: `budget`'s pauses and
    waits, and `hold`, creates held back while their answers are lost, each naming `endpoint` (the
    session's `--endpoints` entry, whose budget they are). Told on the event loop (the run's
    housekeeping), whose clock `hold` keeps."""

    def tell(update: Progress) -> None:
        moment = {each.name: getattr(update, each.name) for each in fields(update)}
        lost = hold.held(asyncio.get_running_loop().time())
        held = budget.held() + (() if lost is None else (lost,))
        progress(HeldProgress(**moment, held=tuple(replace(each, endpoint=endpoint) for each in held)))

    return tell
