"""What a run's stop did to its work on the server (`Cancelled`), and the words the CLI's closing line,
a notebook's interrupt, a Prefect cancel and `rowrelay cancel` say it in (`said_on_stop`).

Apart from the cancelling itself (`run.cancel`), which builds most of it: a stop also cuts the creates it
finds on the wire (`run.submit`), whose jobs no cancel reaches, and says them here too.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, fields

from rowrelay.tasks.records import rows


@dataclass(frozen=True)
class Cancelled:
    """What a cancellation did: responses cancelled, those it could not reach (the last error), those
    it never settled because it was itself stopped (`left`: a second Ctrl-C while it cancelled), those
    that had ended before their cancel reached them (`ended`: recorded as they ended), and those that
    had ended asking for an agent's tools (`awaiting_tools`: kept, for the next run to answer)."""

    cancelled: int = 0
    unreached: int = 0
    last_error: str | None = None
    left: int = 0
    ended: int = 0
    awaiting_tools: int = 0
    cancelling: int = 0
    """Answered still going: a server that cancels later (its cancel answered `in_progress`). Kept with
    their tokens: a later run collects what each became."""
    orphaned: int = 0
    """Rows a killed run left being sent, made `orphaned` as the batch was opened (`rowrelay cancel`): a
    job their create may have started has no id, so no cancel reaches it; counted as orphans."""
    not_stopped: int = 0
    """Rows in flight on a Dask run's shards its stop did not reach, or that did not answer in time (their
    worker gone or busy): their responses, and maybe the shards, may still run."""
    cut: int = 0
    """Rows whose create was on the wire as the run stopped and got no answer in the stop's grace
    (`run.submit`), counted as maybe created: a job no id names, which no cancel reaches. Every row in
    flight on a Chat Completions run, whose create is its whole answer: the stop said "nothing was in
    flight" of 92 such rows, their answers most likely written and billed, and sent again."""

    waited: int = 0
    """Rows whose Chat Completions create a Ctrl-C found on the wire and waited for, their answers kept
    as they came (`run.answers_awaited`): nothing to send again, nor to pay for twice."""

    def __add__(self, other: Cancelled) -> Cancelled:
        summed = {name: getattr(self, name) + getattr(other, name) for name in self.counted()}
        return Cancelled(**summed, last_error=other.last_error or self.last_error)

    @classmethod
    def counted(cls) -> list[str]:
        """The counts (every field but `last_error`): one list for adding, asking and tallying them."""
        return [each.name for each in fields(cls) if each.name != "last_error"]

    @property
    def anything(self) -> bool:
        """Whether any response was in flight to cancel (answered in any way, or not reached)."""
        return any(getattr(self, name) for name in self.counted())

    def unreached_problem(self) -> str:
        """'2 rows could not be cancelled (last: ...): their responses may still run, and be paid for'."""
        return (
            f"{rows(self.unreached)} could not be cancelled (last: {self.last_error}): their responses may "
            "still run, and be paid for"
        )

    def problems(self) -> list[str]:
        """What may still run, and be paid for: responses not reached, jobs no id names (`orphaned`)."""
        found = [self.unreached_problem()] if self.unreached else []
        if self.orphaned:
            was, its = ("was", "its") if self.orphaned == 1 else ("were", "their")
            found.append(
                f"{rows(self.orphaned)} {was} being sent when {its} run was killed: a job {its} create may "
                "have started has no id to be cancelled by, so it may still run, and be paid for (counted "
                "as orphans)"
            )
        if self.cut:
            was, its = ("was", "its") if self.cut == 1 else ("were", "their")
            found.append(
                f"{rows(self.cut)} {was} being sent as the run stopped, with no answer yet: a job {its} "
                "create may have started has no id to be cancelled by, so it may still run, and be paid "
                "for, counted as orphans (a Chat Completions create is its whole answer: cut mid-answer, "
                "the server most likely writes and bills it)"
            )
        if self.not_stopped:
            found.append(
                f"{rows(self.not_stopped)} in flight on Dask shards the stop did not reach in time were not "
                "cancelled: their responses may still run, and be paid for"
            )
        return found


stops_seen: contextvars.ContextVar[list[Cancelled] | None] = contextvars.ContextVar(
    "rowrelay_stops_seen", default=None
)
"""Where a caller (the CLI's closing line after Ctrl-C) collects what each runner that stopped in this
process cancelled, and could not; set it before the flow."""


def said_on_stop(stops: list[Cancelled]) -> str:
    """What the runners that stopped did to the batch's work on the server, in a few words: '10 in-flight
    responses were cancelled', '8 ..., but 2 rows could not be cancelled (last: ...): ...', or '149
    in-flight responses had ended before the cancel reached them (kept as they ended)'."""
    total = sum(stops, Cancelled())
    if not total.anything:
        return "nothing was in flight"
    parts: list[str] = []
    others = (total.ended, total.awaiting_tools, total.cancelling, total.cut, total.waited)
    if total.cancelled or not any(others):
        one = total.cancelled == 1
        parts.append(
            f"{total.cancelled:,} in-flight response{'' if one else 's'} {'was' if one else 'were'} cancelled"
        )
    if total.ended:
        # Said, not left out: after "cancelling 149 in-flight responses", "nothing was in flight" read
        # as a contradiction when all 149 had ended while the run stopped.
        alone = total.ended == 1
        it, they = ("it", "it") if alone else ("them", "they")
        what = (
            f"{total.ended:,}"
            if total.cancelled
            else f"{total.ended:,} in-flight response{'' if alone else 's'}"
        )
        parts.append(f"{what} had ended before the cancel reached {it} (kept as {they} ended)")
    if total.awaiting_tools:
        waits = total.awaiting_tools
        parts.append(
            f"{rows(waits)} had asked for {'its' if waits == 1 else 'their'} agent's tools, which the next "
            "run runs (kept resumable)"
        )
    if total.cancelling:
        parts.append(
            f"{rows(total.cancelling)} {'was' if total.cancelling == 1 else 'were'} still ending when the "
            "server took the cancel (it cancels later): kept with their responses, which the next run "
            "collects"
        )
    if total.waited:
        one = total.waited == 1
        parts.append(
            f"the answer{'' if one else 's'} of {rows(total.waited)} being written as the run stopped "
            f"{'was' if one else 'were'} waited for and kept"
        )
    said = "; ".join(parts)
    if problems := total.problems():
        said = f"{said}, but {'; and '.join(problems)}" if said else "; and ".join(problems)
    if total.left:
        said = (
            f"{said}; the cancelling was stopped with {rows(total.left)} left: their responses may still "
            "run, and be paid for"
        )
    return said
