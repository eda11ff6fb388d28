"""The run's progress where stderr is not a terminal (a cron job's log, CI): a plain line now and then."""

from __future__ import annotations

import io

from rich.console import Console

from rowrelay.flows.console_progress import bar, lines
from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.run import Progress, RunCounters
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
    assert said[1] == (
        "rows 4/10  failed 1  in flight 6  0.1 rows/s  spent $0.5000 of ~$1.0000  0:31 elapsed"
    )
    assert said[2].endswith("1:02 elapsed")


def test_a_console_that_is_not_a_terminal_gets_lines_not_a_live_bar() -> None:
    out = io.StringIO()
    with bar(Console(file=out, width=200)) as sink:
        sink(_update(3, in_flight=2, elapsed=5))
    assert (
        out.getvalue()
        == "rows 3/10  failed 0  in flight 2  0.0 rows/s  spent $0.5000 of ~$1.0000  0:05 elapsed\n"
    )
