"""What a batch's flow run ends as, so Prefect's automations and notifications can tell a bad night from a
clean one: `Completed` when every row completed; `Completed` with a message giving the counts when some
did not; `Failed` with that message when more rows than the user's threshold (`--fail-when-failed N` or
`P%`) did not complete.

A row that "did not complete" is any row whose status is not `completed` at the end of the run: failed,
incomplete, expired, cancelled, or still waiting. Those are the rows the CLI's exit code 1 is about.

Past the threshold, the message also says how many of them ended in earlier runs (rows the run found not
completed and left as they were): a nightly deployment whose run failed rows went on ending `Failed` with
the same message every later night, having sent nothing, and the alert read as a new failure each time.
No run sends such rows again by itself; `rowrelay retry STATE` makes them pending for the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rowrelay.tasks.errors import FailWhenFailedError, UsageError
from rowrelay.tasks.records import NOT_COMPLETED, usd
from rowrelay.tasks.setting_problems import one_of, option_of
from rowrelay.tasks.shell_words import shell_arg

if TYPE_CHECKING:
    import pyarrow as pa
    from prefect.client.schemas.objects import State

_USAGE = "expected a row count (N, e.g. 5) or a share of the rows (P%, e.g. 2.5%)"


@dataclass(frozen=True)
class FailThreshold:
    """Past how many rows that did not complete the run ends `Failed`: a count, or a percentage."""

    limit: float
    percent: bool

    @classmethod
    def parse(cls, text: str | None) -> FailThreshold | None:
        """`N` (a whole number of rows, >= 0) or `P%` (0 <= P <= 100); None when not given."""
        if text is None:
            return None
        value = text.strip()
        percent = value.endswith("%")
        number = value.removesuffix("%").strip()
        try:
            limit = float(number) if percent else int(number)
        except ValueError:
            raise UsageError(f"{option_of('fail_when_failed')}: {_USAGE}, got {text!r}") from None
        if limit < 0 or (percent and limit > 100) or limit != limit:  # NaN
            raise UsageError(f"{option_of('fail_when_failed')}: {_USAGE}, got {text!r}")
        return cls(float(limit), percent)

    def exceeded(self, not_completed: int, total: int) -> bool:
        """Strictly past the limit: `5` tolerates five rows, `2%` tolerates 2% of the rows."""
        if self.percent:
            return total > 0 and 100.0 * not_completed / total > self.limit
        return not_completed > self.limit

    def __str__(self) -> str:
        return f"{self.limit:g}%" if self.percent else f"{int(self.limit)}"


def outcome_message(counts: dict[str, int]) -> str | None:
    """`11 of 200 rows did not complete (9 failed, 2 expired)`, or None when every row completed."""
    total = sum(counts.values())
    others = {status: n for status, n in counts.items() if status != "completed" and n}
    if not others:
        return None
    detail = ", ".join(f"{n} {status}" for status, n in sorted(others.items(), key=lambda kv: -kv[1]))
    return f"{sum(others.values())} of {total} rows did not complete ({detail})"


def possible_duplicates(rows: int, creates: int, state: str) -> str | None:
    """The closing line on creates whose answer this run lost (`run_orphans.lost_this_run`), or None
    when it lost none: each may have started a job the server ran and bills, which no answer named, so
    no cost counts it. Only `rowrelay status` said so; a run whose such rows all completed then exited 0
    without a word. An earlier run's are not said again: the batch's total was, at every later run's
    close (a nightly deployment logged it every night)."""
    if not creates:
        return None
    one = creates == 1
    lost = f"{creates:,} create{'' if one else 's'} of {rows:,} row{'' if rows == 1 else 's'}"
    return (
        f"possible duplicate jobs: {lost} lost {'its' if one else 'their'} answer in this run, so the "
        "server may have "
        f"run (and billed) {creates:,} job{'' if one else 's'} no answer named, which the cost shown does "
        f"not include: `rowrelay status {shell_arg(state)}`"
        " counts them (orphans); the provider's usage page says "
        "what was billed"
    )


def sent_again_said(
    rows: int, creates: int, cost: float | None, state: str, timed_out: int = 0
) -> str | None:
    """The closing line on rows this run sent again whose earlier creates lost their answers
    (`run_orphans.sent_again`), or None: each such create may have started a job the server ran and bills,
    so the row may be paid for twice. `timed_out`: of the rows, those whose create a timeout cut while the
    server wrote the answer (`error_code` answer_timeout, held, then `rowrelay retry`), said as such: it
    said "a run killed or cut off while sending" of them too. `cost`: what those creates may have cost as
    the cost cap counts them (each at its prompt and the run's output estimate), None without a price:
    said as that estimate, no usage having come back for them; it said "up to", a bound it is not (an
    answer may be longer than the estimate, and a trial's answers to those rows cost a fifteenth of it)."""
    if not rows:
        return None
    one, one_create = rows == 1, creates == 1
    earlier = f"{creates:,} earlier create{'' if one_create else 's'}"
    may_cost = (
        f"{'its' if one_create else 'their'} cost is not known (no price for the model)"
        if cost is None
        else f"{option_of('max_cost')} counts {'it' if one_create else 'them'} at {usd(cost)}, an estimate "
        f"(each at its row's prompt and the run's output estimate, {option_of('max_output_tokens')} where "
        "set: no usage came back "
        f"for {'it' if one_create else 'them'})"
    )
    jobs = "that job" if one_create else "those jobs"
    if timed_out >= rows:
        cause = (
            "to a timeout while the server wrote it (the chat timeout or a gateway's), so the server most "
            f"likely ran (and billed) {jobs} too"
        )
    elif timed_out:
        cause = (
            f"({timed_out:,} of the rows' to a timeout while the server wrote it, the others' to a run "
            f"killed or cut off while sending), so the server may have run (and billed) {jobs} too"
        )
    else:
        cause = f"(a run killed or cut off while sending), so the server may have run (and billed) {jobs} too"
    return (
        f"possible duplicate jobs: this run sent {rows:,} row{'' if one else 's'} again whose {earlier} "
        f"lost {'its' if one_create else 'their'} answer {cause}, which the cost shown does not include; "
        f"{may_cost}; `rowrelay status {shell_arg(state)}`"
        " counts them (orphans); the provider's usage page says what "
        "was billed"
    )


def not_completed(latest: pa.Table) -> pa.Table:
    """The rows of `latest` (a table's `latest()`) not completed and not waiting (`NOT_COMPLETED`), by key
    and version: what a run found of them as it opened the table, for `left_as_found` at its end."""
    import pyarrow as pa
    import pyarrow.compute as pc

    statuses = pa.array(NOT_COMPLETED, pa.string())
    ended = latest.filter(pc.is_in(latest.column("status"), value_set=statuses))
    return ended.select(["row_key", "version"])


def left_as_found(found: pa.Table, latest: pa.Table) -> int:
    """How many rows not completed at the end (`latest`) are as the run found them (`found`, from
    `not_completed` at its start): same key, same version, so no write of this run touched them."""
    return len(not_completed(latest).join(found, ["row_key", "version"], join_type="inner"))


def final_state(
    result: Any, counts: dict[str, int], threshold: FailThreshold | None, earlier: int = 0
) -> Any:
    """The flow's return value: `result` itself when every row completed (Prefect marks it `Completed`),
    else a `Completed` state carrying `result` and the counts, or (past `threshold`) a `Failed` one
    carrying a `FailWhenFailedError` that holds `result`. Prefect raises a failed state's data to a caller
    who asked for the result, and must find an exception there: a `Failed` state holding the result
    itself was a `TypeError: Unexpected result for failed state` from Python, without the reason.
    `earlier`: rows not completed that ended in earlier runs (`left_as_found`), said past the threshold."""
    message = outcome_message(counts)
    if message is None:
        return result
    from prefect.states import Completed, Failed

    not_completed = sum(n for status, n in counts.items() if status != "completed")
    if threshold is not None and threshold.exceeded(not_completed, sum(counts.values())):
        before = _ended_before(earlier, not_completed, result)
        reason = f"{message}: past {one_of('fail_when_failed', (str(threshold),))}{before}"
        state: State[Any] = Failed(message=reason, data=FailWhenFailedError(reason, result))
        return state
    return Completed(message=message, data=result)


def _ended_before(earlier: int, not_completed: int, result: Any) -> str:
    """`; none of them ended in this run: ...` when `earlier` of the `not_completed` rows ended in
    earlier runs, with the way on for the batch at `result.state_dir`; '' when none did."""
    earlier = min(earlier, not_completed)  # rows since left out of the input are not in the counts
    if not earlier:
        return ""
    way_on = f"`rowrelay retry {shell_arg(result.state_dir)}` makes them pending for the next run to send"
    if earlier >= not_completed:
        every = "it" if earlier == 1 else f"all {earlier:,}"
        return f"; {every} ended in earlier runs, this run sent none of them again ({way_on})"
    return f"; {earlier:,} of them ended in earlier runs ({way_on})"
