"""The progress line's count of ended rows (`run.projection.EndedRows`) asks the table at a pace its cost
allows: within it the last answer stands, capped by the cancelled rows there are now; the run's last
report, and any once the pace allows, ask afresh. Only the clock is faked: each reading moves it 1 ms,
so the asking takes 1 ms and the pace is 20 ms."""

from __future__ import annotations

from pathlib import Path

from rowrelay.tasks.run.projection import EndedRows
from tests.support.runs import new_table


class _Ticking:
    """A monotonic clock each reading of which moves it a millisecond; the test moves it further."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_the_projections_ended_rows_are_asked_again_at_its_pace_and_afresh_at_the_end(tmp_path: Path) -> None:
    table = new_table(tmp_path / "batch", 4)
    for key in ("row-0000", "row-0001", "row-0002"):  # cancelled as a run stopped, attempts left
        table.transition(key, "submitting", attempts=1)
        table.transition(key, "cancelled", error_type="interrupted")
    clock = _Ticking()
    ended = EndedRows(table, max_attempts=3, clock=clock)
    assert ended(table.counts()) == 0  # all three are sent again: none ended

    table.transition("row-0000", "submitting", attempts=2)  # the next run sends one
    # Within the pace: the last answer, capped by the two cancelled rows left, exact all the same
    assert ended(table.counts()) == 0

    table.transition("row-0003", "submitting", attempts=1)
    table.transition("row-0003", "cancelled", error_type="cancelled")  # a cancel asked for: it stays
    # Still within the pace: three cancelled, of which the last answer took three as sent again
    assert ended(table.counts()) == 0
    assert ended(table.counts(), fresh=True) == 1  # the run's last report asks: the asked-for cancel ended

    table.transition("row-0001", "submitting", attempts=2)
    clock.now += 1.0  # past the pace: asked again
    assert ended(table.counts()) == 1
