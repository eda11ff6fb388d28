"""The terminal's live progress bar for `rowrelay run`, and its plain progress line, which a run without
a console of its own logs instead (`logged`). What the command prints once the run has ended is
`closing_summary`'s."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from rowrelay.tasks.records import usd
from rowrelay.tasks.run import Progress as RunProgress
from rowrelay.tasks.run import RunCounters
from rowrelay.tasks.run.holding import HeldProgress

Sink = Callable[[RunProgress], None]


LINE_EVERY = 30.0
"""Seconds between progress lines where stderr is not a terminal (a cron job's log, CI, `2> run.log`):
there rich's live bar prints only its last state, so a long run said nothing until it ended."""
RECENT = LINE_EVERY
"""Seconds a burst of 429s or transient errors stays on the progress line after the last one: a line
printed every `LINE_EVERY` seconds shows any that came since the one before."""
RATE_WINDOW = 20.0
"""Seconds back the rate (rows/s, and the ETA from it) is measured over: the pace rows end at now. Measured
from the run's start, a run held by --rpm counted its first seconds' burst (the create bucket grows to
what the server shows it holds, up to a minute of the rate) for ever: 1,000 rows at --rpm 300 said
`eta 0:38` at 0:30 with 1:50 left, and stayed low on every line."""
RATE_ROWS = 30
"""Rows ended the window holds at least, reaching further back for them (to the run's first update at
most): a slow run's rows end a few at a time, and a window with one or none in it read 0.0 rows/s and
`eta -:--` between them; one with two bunches, one at its start, read twice their pace."""


@contextlib.contextmanager
def bar(console: Console) -> Iterator[Sink]:
    """A rich progress bar: rows done, failed, in flight, throughput and ETA; on a console that is not a
    terminal, a plain line now and then instead (`lines`)."""
    if not console.is_terminal:
        yield lines(console)
        return
    columns = (
        TextColumn("[bold]rows"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        # The detail wraps within its own column on a narrow console (a CI log is 80 wide): never the
        # row count beside it, which rich would otherwise cut to an ellipsis with every other column.
        TextColumn("{task.fields[detail]}", table_column=Column(ratio=1, no_wrap=False, overflow="fold")),
        TimeElapsedColumn(),
        TextColumn("[dim]eta"),
        TimeRemainingColumn(),
    )
    # the bar's ETA over the window the line's rate is measured over, not rich's 30 s (`RATE_WINDOW`)
    with Progress(
        *columns, console=console, transient=False, refresh_per_second=4, speed_estimate_period=RATE_WINDOW
    ) as progress:
        task = progress.add_task("rows", total=None, detail="starting")
        describe = _describer(time.monotonic)

        def sink(update: RunProgress) -> None:
            progress.update(task, total=update.total, completed=update.done, detail=escape(describe(update)))

        yield sink


def lines(
    console: Console, *, clock: Callable[[], float] = time.monotonic, every: float = LINE_EVERY
) -> Sink:
    """Progress as a plain line on `console` (`plain_lines`)."""
    said = plain_lines(clock=clock, every=every)

    def sink(update: RunProgress) -> None:
        if (line := said(update)) is not None:
            console.print(line, highlight=False, soft_wrap=True, markup=False)

    return sink


def logged(
    logger: logging.Logger, *, clock: Callable[[], float] = time.monotonic, every: float = LINE_EVERY
) -> Sink:
    """Progress as the same plain lines (`plain_lines`), logged at INFO through `logger`: for a run that
    shows no progress of its own (a deployment's, `run_batch` from a script), whose console and Prefect
    logs said nothing between the plan's line and the end, for minutes."""
    said = plain_lines(clock=clock, every=every)

    def sink(update: RunProgress) -> None:
        if (line := said(update)) is not None:
            logger.info("%s", line)

    return sink


def plain_lines(
    *, clock: Callable[[], float] = time.monotonic, every: float = LINE_EVERY
) -> Callable[[RunProgress], str | None]:
    """The line an update is told with, or None between lines: a line at the first update, then at most
    one per `every` seconds; the bar's figures, its ETA included (`0:31 elapsed, eta 1:00`; `eta -:--`
    before a row of this run has ended).

    An update with fewer rows done than the last line said is told at once: rows that line counted as
    ended went back (a run that stops because every create is refused alike sends the rows it failed so
    far back to `pending`, `run.refused_alike`), and its last line, up to `every` seconds old, said
    `failed 4` of rows the run's end said were pending again."""
    rates = _Rate(clock)
    describe = _describer(clock, rates)
    last: list[float] = []
    said_done: list[int] = []  # rows done as the last line said

    def line(update: RunProgress) -> str | None:
        rates.observe(update)  # every update, not only those told: the window's rows end between lines
        moment = clock()
        taken_back = bool(said_done) and update.done < said_done[0]
        if last and moment - last[0] < every and not taken_back:
            return None
        last[:], said_done[:] = [moment], [update.done]
        told = describe(update)
        left = update.total - update.done
        eta = "0:00" if left <= 0 else "-:--" if rates.last <= 0 else _minutes(left / rates.last)
        return f"rows {update.done}/{update.total}  {told}  {_minutes(update.elapsed)} elapsed, eta {eta}"

    return line


def _minutes(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class _Rate:
    """This run's rows a second, as they end now: over the last `RATE_WINDOW` seconds of updates, reaching
    back for `RATE_ROWS` rows ended, never before the first update seen (rows a resumed batch had ended
    before are not this run's throughput). `last` is the rate the latest update was told with."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seen: deque[tuple[float, int]] = deque()  # (moment, rows done), oldest first
        self.last = 0.0

    def observe(self, update: RunProgress) -> None:
        """Note `update`'s rows done, now; drop the moments older than the window's start."""
        moment, done, seen = self._clock(), update.done, self._seen
        if seen and seen[-1][0] == moment:
            seen.pop()
        seen.append((moment, done))
        # A moment is the window's start while the next one is not far enough back to be it.
        while len(seen) > 1 and moment - seen[1][0] >= RATE_WINDOW and done - seen[1][1] >= RATE_ROWS:
            seen.popleft()

    def __call__(self, update: RunProgress) -> float:
        self.observe(update)
        (since, then), (moment, done) = self._seen[0], self._seen[-1]
        # rows that had ended may go back (`lines`): never a negative rate
        seconds, ran = moment - since, max(0, done - then)
        self.last = ran / seconds if seconds >= 1.0 else 0.0
        return self.last


def _describer(clock: Callable[[], float], rates: _Rate | None = None) -> Callable[[RunProgress], str]:
    """What a progress update says besides the row count: failed, in flight, this run's rate, money,
    what is being retried (`_troubles`) and what holds the run's calls back (`_holds`)."""
    rate_of = rates or _Rate(clock)
    troubles = _troubles(clock)

    def describe(update: RunProgress) -> str:
        failed = sum(update.counts.get(s, 0) for s in ("failed", "incomplete", "expired"))
        rate = rate_of(update)
        # Orphaned rows (a create whose answer was lost) are neither done nor in flight, and cancelled ones
        # (`rowrelay cancel`, a stop) did not fail: each said apart while there are any. Orphans went
        # unsaid, the line's counts short of the summary's; cancelled rows were counted as failed.
        apart = "".join(
            f"  {status} {update.counts[status]}"
            for status in ("cancelled", "orphaned")
            if update.counts.get(status)
        )
        told = f"failed {failed}{apart}  in flight {update.in_flight}  {rate:.1f} rows/s{money(update)}"
        return told + troubles(update.counters) + _holds(update)

    return describe


def _troubles(clock: Callable[[], float]) -> Callable[[RunCounters], str]:
    """`  rate limited 12  retrying 1,204 errors (last: ...)` while 429s or transient errors keep coming
    (each shown until `RECENT` seconds pass without one), else nothing. Rows wait and retry through both
    without failing, so without this a server that went away looked like a run making no progress."""
    rose_at: dict[str, tuple[int, float]] = {}

    def troubles(counters: RunCounters) -> str:
        moment, told = clock(), ""
        for name, count in (("429s", counters.rate_limited), ("errors", counters.transient_errors)):
            seen, since = rose_at.get(name, (0, -RECENT))
            if count > seen:
                rose_at[name] = (count, moment)
            elif moment - since >= RECENT:
                continue
            if name == "429s":
                told += f"  rate limited {count:,}"
            else:
                last = " ".join((counters.last_error or "").split())
                told += f"  retrying {count:,} error{'' if count == 1 else 's'} (last: {_shortened(last)})"
        return told

    return troubles


def _holds(update: RunProgress) -> str:
    """`  creates paused 4:12 (429 retry-after)`, `  polls paused 0:30 (429, backing off)`, `  creates
    wait 0:42 for the token budget (--tpm)`, `  creates one at a time (3 create answers lost in a row)`,
    while something holds the run's calls back: without it a
    300 s retry-after on polls read `in flight 20  0.0 rows/s` for four minutes."""
    told = ""
    for hold in update.held if isinstance(update, HeldProgress) else ():
        if hold.by == "workers":  # `  no Dask worker is running: waiting 0:42 for one`
            left = "" if math.isinf(hold.seconds) else f" {_clock_said(hold.seconds)}"
            told += f"  {hold.why}: waiting{left} for one"
            continue
        left = _clock_said(hold.seconds)
        # With several endpoints, whose: `  creates paused 0:06 at endpoint 'slow' (x-ratelimit: ...)`.
        at = "" if hold.endpoint is None else f" at endpoint {hold.endpoint!r}"
        if hold.by == "one_by_one":
            told += f"  creates one at a time{at} ({hold.why})"
        elif hold.by in ("creates", "polls"):
            told += f"  {hold.by} paused {left}{at} ({hold.why})"
        else:
            budget = "token" if hold.by == "tokens" else "request"
            told += f"  creates wait {left} for the {budget} budget{at} ({hold.why})"
    return told


def _clock_said(seconds: float) -> str:
    minutes, whole = divmod(math.ceil(seconds), 60)
    return f"{minutes}:{whole:02d}"


def _shortened(text: str, chars: int = 100) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def money(update: RunProgress) -> str:
    """`  spent $0.0123 of ~$0.0456` when the run knows its prices, else nothing."""
    if update.spent_usd is None:
        return ""
    projected = "" if update.projected_usd is None else f" of ~{usd(update.projected_usd)}"
    return f"  spent {usd(update.spent_usd)}{projected}"


def install(sink: Sink) -> contextvars.Token[Sink | None]:
    from rowrelay.flows.processing import progress_sink

    return progress_sink.set(sink)


def uninstall(token: contextvars.Token[Sink | None]) -> None:
    from rowrelay.flows.processing import progress_sink

    progress_sink.reset(token)
