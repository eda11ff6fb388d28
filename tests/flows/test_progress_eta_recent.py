"""The progress line's rate and ETA follow the pace rows end at now, not the average since the start.

A user trial's 1,000 rows at --rpm 300 on the emulator: the create bucket let the first 300 or so go at
once, then one every 0.2 s; at 0:30 the line said `eta 0:38` with about 1:50 left, and stayed low on every
line, its rate measured from the start, burst included."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console

from rowrelay.flows.console_progress import lines
from rowrelay.tasks.run import Progress, RunCounters
from tests.support.state import FakeClock

ROWS = 1000


def _done_at(second: float) -> int:
    """Rows ended `second` seconds in: 300 in the first 3 s (the burst), then 5 a second (--rpm 300)."""
    return min(ROWS, int(100 * second) if second < 3.0 else 300 + int(5 * (second - 3.0)))


def _etas(done_at: Callable[[float], int], until: float, every: float = 30.0) -> list[tuple[str, str]]:
    """(elapsed, eta) of each line a run ending rows as `done_at` says, updated every half second, prints."""
    out, clock = io.StringIO(), FakeClock(0.0)
    sink = lines(Console(file=out, width=300), clock=clock, every=every)
    tick = 0
    while (second := tick * 0.5) <= until:
        clock.now = second
        done = done_at(second)
        sink(Progress({"completed": done, "queued": ROWS - done}, ROWS, second, RunCounters()))
        tick += 1
    said = [line.rsplit("  ", 1)[1] for line in out.getvalue().splitlines()]
    return [(each.split(" elapsed")[0], each.rsplit("eta ", 1)[1]) for each in said]


def _seconds(clock: str) -> int:
    minutes, seconds = clock.split(":")
    return int(minutes) * 60 + int(seconds)


def test_the_eta_of_a_run_the_rpm_holds_after_its_burst_is_the_time_left_at_its_pace() -> None:
    etas = _etas(_done_at, until=180.0)
    assert [elapsed for elapsed, _ in etas] == ["0:00", "0:30", "1:00", "1:30", "2:00", "2:30", "3:00"]
    for elapsed, eta in etas[1:]:
        # 5 rows a second from 3 s on: the rows left take (left / 5) s, and the run ends at 3:23
        left = (ROWS - _done_at(_seconds(elapsed))) / 5.0
        assert abs(_seconds(eta) - left) <= 1.0, (elapsed, eta, left)
    assert etas[1] == ("0:30", "1:53")  # the trial's line read `eta 0:38`


def test_the_rate_said_is_the_pace_rows_end_at_now() -> None:
    out, clock = io.StringIO(), FakeClock(0.0)
    sink = lines(Console(file=out, width=300), clock=clock, every=30.0)
    for tick in range(121):
        clock.now = tick * 0.5
        done = _done_at(clock.now)
        sink(Progress({"completed": done, "queued": ROWS - done}, ROWS, clock.now, RunCounters()))
    rates = [line.split("  ")[3] for line in out.getvalue().splitlines()]
    assert rates == ["0.0 rows/s", "5.0 rows/s", "5.0 rows/s"]  # from the start: 14.5, then 9.8


def test_a_slow_runs_rate_reaches_back_for_enough_rows_not_to_read_nothing_between_them() -> None:
    """Rows ending five at a time every 40 s (five in flight, 40 s each): a window of the last 20 s alone
    would hold none of them at times, and read 0.0 rows/s, eta -:--."""

    def bunched(second: float) -> int:
        return 5 * int(second // 40)

    etas = _etas(bunched, until=300.0)
    assert etas[:2] == [("0:00", "-:--"), ("0:30", "-:--")]  # no row of this run has ended yet
    for elapsed, eta in etas[3:]:  # from 1:30 (the 2:30 line's last 20 s hold no row)
        left = (ROWS - bunched(_seconds(elapsed))) / (5 / 40)
        assert abs(_seconds(eta) / left - 1.0) < 0.35, (elapsed, eta, left)
