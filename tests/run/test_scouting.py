"""The scouts' estimate: Kaplan-Meier over the scouts, those still running counted as running."""

from __future__ import annotations

import pytest

from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.run.pace import SCOUTS
from rowrelay.tasks.run.schedule import SERVER_CLOCK, LatencyModel, completion_estimate
from rowrelay.tasks.run.scouting import AT_RISK, Scouting


def test_a_scout_still_running_holds_the_share_ended_down() -> None:
    scouting = Scouting()
    for number in range(8):
        scouting.ended(f"fast-{number}", 1.0 + number / 10)
    for number in range(4):
        scouting.running(f"unlooked-{number}", 1.8)
    for number in range(20):
        scouting.ended(f"slow-{number}", 2.0 + number / 100)
    # Kaplan-Meier: 8 of 32 by 1.7 s; past 1.8 s only 20 are known, so each of their ends is a 20th,
    # then a 19th, ... of what was left, and the estimate stops where fewer than AT_RISK are left.
    assert scouting.quantile(0.25) == 1.7
    assert scouting.quantile(0.25 + 0.75 / 20) == 2.0
    assert scouting.quantile(0.25 + 0.75 * 5 / 20) == 2.04  # at risk 20, 19, 18, 17, 16
    assert scouting.quantile(0.5) is None  # at risk 15: not estimated
    assert scouting.unsettled
    assert scouting.longest_seen() == 2.19


def test_the_first_answers_of_a_look_do_not_settle_the_estimate() -> None:
    """Every scout was last seen running at 1.35 s; of their next look's answers the first five are back,
    all done. Alone they would say every scout ended by 2.1 s."""
    scouting = Scouting()
    for number in range(SCOUTS):
        scouting.running(f"scout-{number}", 1.35)
    for number in range(5):
        scouting.ended(f"scout-{number}", 2.0 + number / 50)
    assert scouting.quantile(0.1) is None
    assert scouting.quantile(0.5) is None
    for number in range(5, AT_RISK + 5):  # enough of the others back, running
        scouting.running(f"scout-{number}", 2.37)
    assert scouting.quantile(0.1) == 2.04  # 3 of the 21 seen past 1.35 s
    assert scouting.quantile(0.5) is None


def test_a_quantile_the_scouts_have_not_reached_is_unknown() -> None:
    scouting = Scouting()
    for number in range(8):
        scouting.ended(f"fast-{number}", 1.0 + number / 10)
    for number in range(24):
        scouting.running(f"slow-{number}", 2.4)
    assert scouting.quantile(0.1) == 1.3  # 4 of 32
    assert scouting.quantile(0.5) is None  # 8 of 32 have ended: the median lies past 2.4 s
    # Learned alone, the eight fastest say the median is 1.4 s.
    model = LatencyModel(scouting=scouting)
    for number in range(8):
        model.observe(1.0 + number / 10)
    assert model.quantile(0.5) is None
    assert model.quantile(0.1) == 1.3
    assert model.quantile(0.95) == 2.4  # at least the longest any scout was seen running
    for number in range(24):
        scouting.ended(f"slow-{number}", 3.0)
        model.observe(3.0)
    assert not scouting.unsettled
    assert model.quantile(0.5) == 3.0  # the window's, now every scout has ended


def test_a_scout_that_ends_without_a_latency_counts_as_running_until_last_seen() -> None:
    scouting = Scouting()
    for number in range(4):
        scouting.running(f"failed-{number}", 0.5)
        scouting.left(f"failed-{number}")
    for number in range(AT_RISK):
        scouting.ended(f"done-{number}", 2.0 + number / 100)
    assert not scouting.unsettled
    assert scouting.quantile(0.05) == 2.0  # a 16th at 2 s: the failed ones ended nothing at 0.5 s
    scouting.left("done-0")  # leaving after its completion changes nothing
    scouting.left("never seen")
    assert scouting.quantile(0.05) == 2.0
    assert scouting.longest_seen() == 2.15


def test_a_scout_followed_on_its_stream_is_running_at_its_age_now() -> None:
    """A streamed scout is watched all the time: until its end event it is known to run at its current
    age, so the estimate moves with the clock, not with looks."""
    clock = [100.0]
    scouting = Scouting(clock=lambda: clock[0])
    for number in range(AT_RISK):
        scouting.following(f"streamed-{number}", 0.5)  # created half a second ago
    for number in range(AT_RISK):
        scouting.ended(f"polled-{number}", 1.0 + number / 100)
    assert scouting.unsettled
    assert scouting.longest_seen() == 1.15  # the last polled completion; the streamed ones are 0.5 s old
    clock[0] += 1.5
    assert scouting.longest_seen() == 2.0  # every streamed scout is now 2 s old: still running
    # Of 32, 16 ended by 1.15 s while every streamed scout ran past it: the median is reached.
    assert scouting.quantile(0.5) == 1.15
    scouting.ended("streamed-0", 2.0)
    scouting.left("streamed-1")  # failed at 2 s: running until then, no latency
    clock[0] += 5.0
    assert scouting.longest_seen() == 7.0  # the 14 still followed are 7 s old
    assert scouting.quantile(0.51) == 2.0
    for number in range(2, AT_RISK):
        scouting.ended(f"streamed-{number}", 7.0)
    assert not scouting.unsettled
    assert scouting.longest_seen() == 7.0  # ended: its age stops with it


def test_a_completion_is_learned_from_the_looks_and_the_servers_clock() -> None:
    # Found done at its first look, 4 s after the create: the looks alone allow 0-4 s.
    assert completion_estimate(0.0, 4.0, None) == 2.0
    # The server says 3 s, to the second: 2-4 s.
    assert completion_estimate(0.0, 4.0, 3.0) == 3.0
    # Seen running at 3.5 s, the server's 3 s allows 3.5-4 s.
    assert completion_estimate(3.5, 4.0, 3.0) == 3.75
    # Clocks that disagree (the server says 9 s): the looks.
    assert completion_estimate(1.0, 2.0, 9.0) == 1.5
    assert SERVER_CLOCK == 1.0


@pytest.mark.parametrize(
    ("status", "completed_at", "seconds"),
    [("completed", 1_700_000_003, 3.0), ("completed", None, None), ("failed", 1_700_000_003, None)],
)
def test_a_completed_response_says_how_long_it_took_by_the_servers_clock(
    status: str, completed_at: int | None, seconds: float | None
) -> None:
    response = {"id": "resp_1", "status": status, "created_at": 1_700_000_000, "completed_at": completed_at}
    assert snapshot_of(response).server_seconds == seconds
