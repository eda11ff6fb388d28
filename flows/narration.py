"""A batch told in a few log lines, for the flow run's logs: episodes of throttling, retries and failing
rows (a line when one starts, a line when it is over), and the outcome with its failures grouped by kind.

Never a line per row: a 429 storm over 10,000 rows is two lines. An episode starts when its counter
moves and is over once it has not moved for `quiet` seconds (or when the run ends). These lines are for
the run's logs: they are marked `RUN_LOG_ONLY`, and the CLI's console (which has its own progress bar and
closing table) leaves them out unless `--verbose`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rowrelay.flows.outcome import possible_duplicates, sent_again_said
from rowrelay.flows.run_orphans import LostAnswers, SentAgain
from rowrelay.tasks.records import ENDED, RowStatus
from rowrelay.tasks.run import Progress
from rowrelay.tasks.setting_problems import option_of
from rowrelay.tasks.state.failures import FailureKind, kinds_said

log = logging.getLogger("rowrelay.flow")
_QUIET_SECONDS = 10.0
RUN_LOG_ONLY = "rowrelay_run_log_only"
"""A record attribute: the record tells the run's story, which a console shows in its own way."""
_STORY = {RUN_LOG_ONLY: True}


@dataclass
class _Episode:
    started: str
    """What is logged when it starts: `{n}` is the count so far."""
    ended: str
    """What is logged when it is over: `{n}` is its count, `{seconds}` how long it lasted."""
    seen: int = 0
    base: int = 0
    since: float | None = None
    last_move: float = 0.0

    def update(self, value: int, now: float, quiet: float) -> None:
        if value > self.seen:
            if self.since is None:
                self.since, self.base = now, self.seen
                log.warning(self.started.format(n=value - self.base), extra=_STORY)
            self.seen, self.last_move = value, now
        elif self.since is not None and now - self.last_move >= quiet:
            self.close()

    def close(self) -> None:
        """Over: from its first move to its last (the quiet time after is not part of it)."""
        if self.since is not None:
            seconds = f"{self.last_move - self.since:.0f}"
            log.info(self.ended.format(n=self.seen - self.base, seconds=seconds), extra=_STORY)
            self.since = None


@dataclass
class _Rises:
    """The sum of a count's rises, for a count that also falls: rows ending without completing (a row
    sent again leaves it). Its first value is where it starts from, not a rise."""

    last: int | None = None
    total: int = 0

    def after(self, value: int) -> int:
        if self.last is not None and value > self.last:
            self.total += value - self.last
        self.last = value
        return self.total


def _unfinished(counts: Mapping[RowStatus, int]) -> int:
    return sum(counts.get(status, 0) for status in ENDED if status != "completed")


class Narrator:
    """Fed every progress report of a run; logs the episodes it sees."""

    def __init__(self, quiet: float = _QUIET_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._quiet = quiet
        self._clock = clock
        self._episodes = {
            "throttled": _Episode(
                "throttled: the server answered 429 ({n} so far); creates and polls wait for its retry-after",
                "throttling over: {n} rate-limited answers in {seconds} s",
            ),
            "retried": _Episode(
                "transient errors (timeouts, 5xx, lost connections): {n} so far, retried with backoff",
                "transient errors over: {n} retried in {seconds} s",
            ),
            "unfinished": _Episode(
                "rows are ending without completing: {n} so far (failed, incomplete or cancelled)",
                "{n} rows ended without completing over {seconds} s",
            ),
        }
        self.last: Progress | None = None
        self._unfinished = _Rises()

    def begin(self, counts: Mapping[RowStatus, int]) -> None:
        """The batch's rows by status as the run starts: rows that ended without completing before it
        (an earlier run's failures, the rows a stopped run cancelled, which this one sends again) are no
        episode of this run. Without it, a resumed batch said `rows are ending without completing: 100
        so far` as it started."""
        self._unfinished.last = _unfinished(counts)

    def __call__(self, progress: Progress) -> None:
        self.last = progress
        now = self._clock()
        counters = progress.counters
        values = {"throttled": counters.rate_limited, "retried": counters.transient_errors}
        values["unfinished"] = self._unfinished.after(_unfinished(progress.counts))
        for name, episode in self._episodes.items():
            episode.update(values[name], now, self._quiet)

    def close(self) -> None:
        """The run is over: close open episodes and say what the run did on the wire."""
        for episode in self._episodes.values():
            episode.close()
        if self.last is not None:
            c = self.last.counters
            # A tool round's follow-up is a paid create too, made inside a read: said apart, only where
            # an agent made some (a trial's agent run said "6 creates" for its 12).
            rounds = f" (and {c.follow_ups} tool rounds' follow-up creates)" if c.follow_ups else ""
            # A dead Dask worker's creates are counted from the table (`cluster_run.requests_sent`); what
            # else it sent is known to nobody: said, so the line reads as a floor rather than the whole.
            lost = (
                f"; {c.workers_lost} Dask worker{'s' if c.workers_lost > 1 else ''} died mid-run: creates "
                "are counted from the state table, but a dead worker's polls, stream resumes, rate-limited "
                "and retried requests are not"
                if c.workers_lost
                else ""
            )
            log.info(
                "requests: %d creates%s, %d polls, %d stream resumes, %d rate-limited answers, %d transient "
                "errors retried, %d creates whose answer was lost (counted and sent again)%s",
                c.creates, rounds, c.polls, c.resumes, c.rate_limited, c.transient_errors, c.maybe_created,
                lost, extra=_STORY,
            )  # fmt: skip


def log_outcome(
    batch_id: str,
    summary: dict[str, object],
    output: str,
    held: int = 0,
    state: Path | None = None,
    lost: LostAnswers | None = None,
    again: SentAgain | None = None,
) -> None:
    """The batch's final summary (`state.summarize`'s): counts, tokens, latency, where the output is,
    the creates whose answer this run lost (`lost`: possible duplicate jobs, which no cost counts), and
    the rows that did not complete by kind, with one example message each; `held`: rows the run's
    `--limit` left for a later run, which are no cause for a warning; `state`: the batch's directory,
    for `rowrelay status`; `again`: rows this run sent again whose earlier creates lost their answers."""
    counts = {str(k): int(v) for k, v in summary["counts"].items() if v}  # type: ignore[attr-defined]
    total = sum(counts.values())
    said = ", ".join(f"{n} {status}" for status, n in counts.items())
    p50, p95 = summary.get("latency_p50"), summary.get("latency_p95")
    latency = "" if p50 is None else f"; latency p50 {p50:.2f} s, p95 {p95:.2f} s"
    completed = counts.get("completed", 0)
    level = logging.INFO if completed + held == total else logging.WARNING
    later = f"; {held} left for a later run ({option_of('limit')})" if held else ""
    log.log(
        level,
        "batch %s finished: %d of %d rows completed (%s)%s; tokens in %s, out %s%s; output %s",
        batch_id, completed, total, said or "no rows", later, summary["input_tokens"],
        summary["output_tokens"], latency, output, extra=_STORY,
    )  # fmt: skip
    lost = lost or LostAnswers()
    duplicates = possible_duplicates(lost.rows, lost.creates, str(state or "STATE"))
    if duplicates is not None:
        log.warning("%s", duplicates, extra=_STORY)
    again = again or SentAgain()
    resent = sent_again_said(again.rows, again.creates, again.usd, str(state or "STATE"), again.timed_out)
    if resent is not None:
        log.warning("%s", resent, extra=_STORY)
    kinds: list[FailureKind] = summary.get("not_completed", [])  # type: ignore[assignment]
    if kinds:
        log.warning("rows that did not complete, by kind: %s", kinds_said(kinds), extra=_STORY)
