"""The words a stopped run's closing line, its log and `rowrelay cancel` use for what a cancellation did
(`said_on_stop`): each count said, in the singular where it is one, nothing left out."""

from __future__ import annotations

import pytest

from rowrelay.tasks.run.stops import Cancelled, said_on_stop


@pytest.mark.parametrize(
    ("stops", "said"),
    [
        ([], "nothing was in flight"),
        ([Cancelled(), Cancelled()], "nothing was in flight"),
        ([Cancelled(1)], "1 in-flight response was cancelled"),
        ([Cancelled(3), Cancelled(7)], "10 in-flight responses were cancelled"),
        (
            [Cancelled(ended=1)],
            "1 in-flight response had ended before the cancel reached it (kept as it ended)",
        ),
        (
            [Cancelled(2, ended=5)],
            "2 in-flight responses were cancelled; 5 had ended before the cancel reached them (kept as they "
            "ended)",
        ),
        (
            [Cancelled(0, 2, "r1 (resp_1): timed out")],
            "0 in-flight responses were cancelled, but 2 rows could not be cancelled (last: r1 (resp_1): "
            "timed out): their responses may still run, and be paid for",
        ),
        (
            [Cancelled(4, left=6, ended=1)],
            "4 in-flight responses were cancelled; 1 had ended before the cancel reached it (kept as it "
            "ended); the cancelling was stopped with 6 rows left: their responses may still run, and be paid "
            "for",
        ),
        (
            [Cancelled(2, cancelling=1)],
            "2 in-flight responses were cancelled; 1 row was still ending when the server took the cancel "
            "(it cancels later): kept with their responses, which the next run collects",
        ),
    ],
)
def test_each_count_is_said(stops: list[Cancelled], said: str) -> None:
    assert said_on_stop(stops) == said
