"""The run's progress where stderr is not a terminal (a cron job's log, CI): a plain line now and then."""

from __future__ import annotations

import io
import math

from rich.console import Console

from rowrelay.flows.console_progress import bar, lines
from rowrelay.tasks.llm.holds import Hold
from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.run import Progress, RunCounters
from rowrelay.tasks.run.holding import HeldProgress
from tests.support.state import FakeClock


def _update(done: int, failed: int = 0, in_flight: int = 0, elapsed: float = 0.0) -> Progress:
    counts: dict[RowStatus, int] = {"completed": done - failed, "failed": failed, "queued": in_flight}
    return Progress(counts, 10, elapsed, RunCounters(), spent_usd=0.5, projected_usd=1.0)


def test_a_line_at_the_first_update_then_one_per_interval_at_most() -> None:
    out, clock = io.StringIO(), FakeClock(0.0)
    sink = lines(Console(file=out, width=200), clock=clock, every=30.0)
    for second, done in ((0, 0), (10, 2), (29, 3), (31, 4), (40, 5), (62, 8)):
        clock.now = float(second)
        sink(_update(done, failed=1 if done else 0, in_flight=10 - done, elapsed=second))
    said = out.getvalue().splitlines()
    assert [line.split("  ")[0] for line in said] == ["rows 0/10", "rows 4/10", "rows 8/10"]
    # 4 rows in 31 s: the 6 left take 46 s more at that rate
    assert (
        said[1]
        == "rows 4/10  failed 1  in flight 6  0.1 rows/s  spent $0.50 of ~$1.00  0:31 elapsed, eta 0:46"
    )
    assert said[2].endswith("1:02 elapsed, eta 0:15")


def test_a_console_that_is_not_a_terminal_gets_lines_not_a_live_bar() -> None:
    out = io.StringIO()
    with bar(Console(file=out, width=200)) as sink:
        sink(_update(3, in_flight=2, elapsed=5))
    assert (
        out.getvalue()
        == "rows 3/10  failed 0  in flight 2  0.0 rows/s  spent $0.50 of ~$1.00  0:05 elapsed, eta -:--\n"
    )


def test_the_line_carries_the_bars_eta_from_this_runs_rate() -> None:
    """The README said the plain line carried the bar's figures, ETA included; it had no ETA. It is unknown
    until a row of this run has ended (a resumed batch's earlier rows are not this run's rate), and nil at
    the end."""
    out, clock = io.StringIO(), FakeClock(100.0)
    sink = lines(Console(file=out, width=200), clock=clock, every=0.0)
    for second, done in ((100, 2), (110, 2), (160, 5), (400, 10)):  # 2 rows ended by an earlier run
        clock.now = float(second)
        sink(_update(done, elapsed=second - 100))
    etas = [line.rsplit(", eta ", 1)[1] for line in out.getvalue().splitlines()]
    assert etas == ["-:--", "-:--", "1:40", "0:00"]  # 3 rows in 60 s: the 5 left take 100 s


def test_orphaned_and_cancelled_rows_are_said_apart_while_there_are_any() -> None:
    """Orphans, neither done nor in flight, left the line's counts short of the summary's without a word;
    cancelled rows (`rowrelay cancel`, a stop), which did not fail, were counted as failed."""
    out = io.StringIO()
    sink = lines(Console(file=out, width=200), clock=FakeClock(0.0), every=0.0)
    counts: dict[RowStatus, int] = {"completed": 5, "failed": 1, "cancelled": 2, "orphaned": 1, "queued": 1}
    sink(Progress(counts, 10, 5.0, RunCounters()))
    sink(Progress({"completed": 10}, 10, 6.0, RunCounters()))
    first, last = out.getvalue().splitlines()
    assert first.startswith("rows 8/10  failed 1  cancelled 2  orphaned 1  in flight 1  ")
    assert last.startswith("rows 10/10  failed 0  in flight 0  ")


def test_429s_and_errors_being_retried_are_on_the_line_until_they_have_stopped_for_a_while() -> None:
    out, clock = io.StringIO(), FakeClock(0.0)
    sink = lines(Console(file=out, width=400), clock=clock, every=30.0)
    counters = RunCounters()
    steps: list[tuple[int, int, int]] = [(0, 0, 0), (30, 40, 3), (60, 40, 5), (90, 40, 5), (120, 40, 5)]
    for second, limited, errors in steps:
        clock.now = float(second)
        counters.rate_limited = limited
        while counters.transient_errors < errors:
            counters.retried(ConnectionError("connection problem: Cannot connect to host\n127.0.0.1:43317"))
        sink(Progress({"queued": 10}, 10, second, counters))
    tails = [line.split("rows/s")[1].rsplit("  ", 1)[0] for line in out.getvalue().splitlines()]
    last = "(last: connection problem: Cannot connect to host 127.0.0.1:43317)"
    assert tails == [
        "",  # nothing yet
        f"  rate limited 40  retrying 3 errors {last}",
        f"  retrying 5 errors {last}",  # no 429 for 30 s: gone from the line; errors still coming
        "",  # neither for 30 s
        "",
    ]


def test_the_line_says_while_calls_are_held_back_by_what_and_for_how_long() -> None:
    """A 300 s retry-after on polls read `in flight 20  0.0 rows/s` for four minutes, and a row's minute of
    token payback `in flight 0  0.0 rows/s`: nothing said the run was waiting, on what, or how long."""
    out = io.StringIO()
    sink = lines(Console(file=out, width=400), clock=FakeClock(0.0), every=0.0)
    held = (
        Hold("creates", 251.2, "429 retry-after"),
        Hold("polls", 30.0, "429, backing off"),
        Hold("tokens", 41.5, "--tpm"),
    )
    sink(HeldProgress({"queued": 20}, 20, 60.0, RunCounters(), held=held))
    sink(HeldProgress({"queued": 20}, 20, 61.0, RunCounters(), held=(Hold("requests", 3.0, "--rpm"),)))
    lost = "3 create answers lost in a row"  # a gateway's 502s: creates held back (`run.outage.CreateHold`)
    sink(HeldProgress({"queued": 20}, 20, 62.0, RunCounters(), held=(Hold("creates", 7.2, lost),)))
    sink(HeldProgress({"queued": 20}, 20, 63.0, RunCounters(), held=(Hold("one_by_one", 0.0, lost),)))
    none = "no Dask worker is running"  # a Dask run's shards wait for one (`flows.cluster_workers`)
    sink(HeldProgress({"queued": 20}, 20, 63.5, RunCounters(), held=(Hold("workers", 41.5, none),)))
    sink(HeldProgress({"queued": 20}, 20, 63.7, RunCounters(), held=(Hold("workers", math.inf, none),)))
    sink(HeldProgress({"completed": 20}, 20, 64.0, RunCounters()))
    tails = [line.split("rows/s")[1].rsplit("  ", 1)[0] for line in out.getvalue().splitlines()]
    assert tails == [
        "  creates paused 4:12 (429 retry-after)  polls paused 0:30 (429, backing off)"
        "  creates wait 0:42 for the token budget (--tpm)",
        "  creates wait 0:03 for the request budget (--rpm)",
        "  creates paused 0:08 (3 create answers lost in a row)",
        "  creates one at a time (3 create answers lost in a row)",
        "  no Dask worker is running: waiting 0:42 for one",
        "  no Dask worker is running: waiting for one",  # ROWRELAY_DASK_NO_WORKERS_AFTER=0: for ever
        "",  # nothing holds them any more
    ]


def test_a_long_error_is_cut_to_fit_the_line() -> None:
    out, clock = io.StringIO(), FakeClock(0.0)
    counters = RunCounters()
    counters.retried(TimeoutError("x" * 500))
    lines(Console(file=out, width=400), clock=clock)(Progress({"queued": 1}, 1, 0.0, counters))
    assert f"retrying 1 error (last: {'x' * 99}…)" in out.getvalue()


def test_names_and_messages_with_brackets_are_printed_as_they_are() -> None:
    """rich read `[v2]` in a path, or `[closed]` in a server's message, as a style and dropped it: a path
    in the summary that could not be pasted back (the file `report[v2].csv` became `report.csv`)."""
    from rowrelay.flows.batch_result import BatchResult
    from rowrelay.flows.closing_summary import closing_summary

    counters = RunCounters(transient_errors=1, last_error="connection [closed] by peer")
    update = Progress({"queued": 1}, 1, 0.0, counters)
    out = io.StringIO()
    lines(Console(file=out, width=200), clock=FakeClock(0.0))(update)
    with bar(Console(file=out, width=200, force_terminal=True)) as sink:
        sink(update)
    assert out.getvalue().count("(last: connection [closed] by peer)") == 2, out.getvalue()
    state = "data/state/report[v2]-0123456789"
    result = BatchResult("report[v2]-0123456789", state, "data/output/report[v2]-0123456789.parquet",
                         {"completed": 1, "failed": 1}, "emulator", None, None, None, None)  # fmt: skip
    said = io.StringIO()
    assert closing_summary(Console(file=said, width=60), result) == 1
    text = said.getvalue()
    assert "report[v2]-012345678" in text  # the title, wrapped to the table's width
    assert f"output: data/output/report[v2]-0123456789.parquet   state: {state}   backend: emulator\n" in text
    # quoted in the commands: a shell would read `[v2]` as a pattern
    assert f"see `rowrelay status '{state}'`; `rowrelay retry '{state}'` makes them eligible again" in text


def test_the_retry_it_suggests_takes_the_cancelled_rows_plain_retry_leaves() -> None:
    """Plain `rowrelay retry` leaves cancelled rows as they are; a summary that suggested it for a batch
    with cancelled rows sent the user to `no row has the statuses asked for`."""
    from rowrelay.flows.batch_result import BatchResult
    from rowrelay.flows.closing_summary import closing_summary

    for counts, retry in [
        ({"completed": 3, "failed": 1, "expired": 1}, "rowrelay retry st"),
        ({"completed": 3, "failed": 1, "cancelled": 2}, "rowrelay retry st --status failed,cancelled"),
        ({"completed": 3, "cancelled": 2}, "rowrelay retry st --status cancelled"),
    ]:
        said = io.StringIO()
        result = BatchResult("b", "st", "out.parquet", counts, "emulator", None)
        assert closing_summary(Console(file=said, width=200), result) == 1
        assert f"; `{retry}` makes them eligible again" in said.getvalue(), said.getvalue()


def test_the_summary_counts_rows_with_thousands_separators() -> None:
    """`1999980` pending beside `--limit: 1,999,980 rows left`: the table now counts as the lines do."""
    from rowrelay.flows.batch_result import BatchResult
    from rowrelay.flows.closing_summary import closing_summary

    counts = {"pending": 1_999_980, "completed": 20}
    result = BatchResult(
        "b", "state", "out.parquet", counts, "emulator", None, held_back={"pending": 1_999_980}
    )
    said = io.StringIO()
    assert closing_summary(Console(file=said, width=100), result) == 0
    assert "│ pending   │ 1,999,980 │" in said.getvalue(), said.getvalue()
    assert "--limit: 1,999,980 rows left for a later run" in said.getvalue()


def test_the_summary_counts_the_tool_calls_only_of_a_batch_that_made_some() -> None:
    from rowrelay.flows.batch_result import BatchResult
    from rowrelay.flows.closing_summary import closing_summary

    for calls, line in [(41, "tool calls: 41 (4.1 a completed row, billed beside the tokens)"), (0, None)]:
        result = BatchResult("b", "st", "out.parquet", {"completed": 10}, "emulator", None, tool_calls=calls)
        said = io.StringIO()
        assert closing_summary(Console(file=said, width=200), result) == 0
        assert ("tool calls" in said.getvalue()) == (line is not None)
        assert line is None or line in said.getvalue()
