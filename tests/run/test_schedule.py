"""The adaptive poll schedule is a pure function: time is a parameter, nothing sleeps here (the rate
budget the pace asks runs on a virtual clock)."""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random

import pytest

from rowrelay.tasks.llm.budget import RateBudget
from rowrelay.tasks.llm.estimates import OutputEstimate
from rowrelay.tasks.run.pace import CLOSING, CROWD, Pace
from rowrelay.tasks.run.schedule import (
    CLOSING_STEP,
    FIRST_LOOK_FLOOR,
    FIRST_POLL,
    MAX_INTERVAL,
    MIN_INTERVAL,
    RELAXED,
    LatencyModel,
    next_poll_delay,
)
from tests.support.virtual_time import run_in_virtual_time


def test_without_history_it_backs_off_from_about_a_second_to_a_cap() -> None:
    model = LatencyModel()
    delays = [next_poll_delay(0.0, n, model) for n in range(20)]
    assert delays[0] == FIRST_POLL
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[-1] == MAX_INTERVAL


def test_with_history_the_first_poll_lands_near_the_fast_completions() -> None:
    model = LatencyModel()
    for seconds in [10.0 + i * 0.1 for i in range(40)]:
        model.observe(seconds)
    first = next_poll_delay(0.0, 0, model)
    assert 10.0 <= first <= 11.0  # about the 10th percentile, not one second
    later = next_poll_delay(12.0, 1, model)
    assert MIN_INTERVAL <= later <= 0.15 * 12.0  # a small fraction of the median


def test_with_fast_history_the_first_look_is_as_early_as_the_fast_completions() -> None:
    model = LatencyModel()
    for seconds in [0.05 + i * 0.01 for i in range(40)]:
        model.observe(seconds)
    first = next_poll_delay(0.0, 0, model)
    assert FIRST_LOOK_FLOOR <= first <= 0.1  # about the 10th percentile (0.09 s), under MIN_INTERVAL
    assert next_poll_delay(0.085, 0, model) == FIRST_LOOK_FLOOR  # its moment all but come: at once
    assert next_poll_delay(0.2, 1, model) == MIN_INTERVAL  # later looks keep the floor


def test_simulated_polls_per_row_stay_few_and_lag_small() -> None:
    """Replay the schedule against lognormal latencies: few polls per row, small detection lag."""
    rng = random.Random(7)
    model = LatencyModel()
    polls, lags = [], []
    for _ in range(400):
        latency = rng.lognormvariate(0.0, 0.3) * 30.0  # median 30 s
        t, n = 0.0, 0
        while True:
            t += next_poll_delay(t, n, model)
            n += 1
            if t >= latency:
                break
        polls.append(n)
        lags.append(t - latency)
        model.observe(latency)
    polls.sort()
    lags.sort()
    # The guide's fixed 2 s polling would need about 15 polls for the median row here.
    assert polls[len(polls) // 2] <= 6
    assert lags[int(0.95 * len(lags))] <= 0.15 * 30.0


def test_the_latency_window_is_bounded() -> None:
    model = LatencyModel()
    for i in range(2000):
        model.observe(float(i))
    assert len(model.samples) == 512
    assert model.quantile(0.0) == 1488.0


def observed(latencies: list[float]) -> LatencyModel:
    model = LatencyModel()
    for seconds in latencies:
        model.observe(seconds)
    return model


def test_a_row_of_a_run_bound_by_its_slots_has_no_slack_as_it_starts_to_wait() -> None:
    """A trial (every row polled, --max-in-flight 5, --rpm 500, jobs of 6 s): each row past the scouts was
    first polled 11.6 s after its create, 5.6 s after it ended, holding the slot the next row waited
    for; 30 rows took 59 s where the slots allow 36. As it starts to wait the bucket lacks the row's
    own create, but it is full again long before the row ends."""
    model = observed([6.0 + i * 0.01 for i in range(40)])

    async def main() -> float:
        budget = RateBudget(rpm=500, tpm=10**8, poll_rpm=10**4, max_in_flight=5, output=OutputEstimate(64))
        await budget.acquire_create(10)  # the row's own create
        pace = Pace(unstarted=24, slot_waits=1, waiting=5)  # the next row waits for a slot
        return pace.slack(model, slots_bind=budget.slots_bind)

    assert run_in_virtual_time(main) == 0.0


def test_where_a_late_look_costs_nothing_looks_come_later_and_further_apart() -> None:
    model = observed([10.0 + i * 0.1 for i in range(40)])
    median, early = model.quantile(0.5), model.quantile(0.1)
    assert median is not None
    assert early is not None
    first = next_poll_delay(0.0, 0, model, slack=math.inf)
    assert first == pytest.approx(early + RELAXED * median)
    assert next_poll_delay(12.0, 1, model, slack=math.inf) == pytest.approx(RELAXED * median)
    assert next_poll_delay(12.0, 1, model, slack=2.0) == 2.0  # no later than the slack allows
    assert next_poll_delay(12.0, 1, model) == pytest.approx(0.1 * median)  # no slack: dense, as before
    assert next_poll_delay(0.0, 0, model) == pytest.approx(early)


def test_each_of_a_batchs_last_rows_is_looked_at_often_after_its_first_look() -> None:
    model = observed([100.0 + i for i in range(40)])
    median = model.quantile(0.5)
    assert median is not None
    assert next_poll_delay(130.0, 3, model, slack=math.inf, closing=True) == pytest.approx(
        CLOSING_STEP * median
    )
    assert next_poll_delay(0.0, 0, model, closing=True) == model.quantile(0.1)  # the first look as ever
    fast = observed([1.0] * 40)
    assert next_poll_delay(5.0, 2, fast, closing=True) == MIN_INTERVAL


def test_the_pace_gives_slack_only_while_a_late_look_cannot_delay_the_batch() -> None:
    model = observed([2.0 + i * 0.05 for i in range(40)])
    q95 = model.quantile(0.95)
    assert q95 is not None
    assert Pace(unstarted=5).slack(LatencyModel()) == 0.0  # nothing known yet
    assert Pace(unstarted=5).slack(model) == math.inf  # rows still to be created end after it
    assert Pace(sending=1).slack(model) == math.inf  # one waiting for the rate budget, likewise
    assert Pace(queued=1000).slack(model) == math.inf  # a shard waiting for its turn, likewise
    assert Pace(unstarted=5, slot_waits=1).slack(model) == 0.0  # a row waits for the slot it holds
    assert Pace(unstarted=5, slot_waits=1, rate_waits=3).slack(model) == math.inf  # the rate binds
    bound = Pace(unstarted=5, slot_waits=1)
    assert bound.slack(model, slots_bind=lambda rows_left, _: rows_left <= 5) == 0.0  # slots to the end
    assert bound.slack(model, slots_bind=lambda rows_left, _: False) == math.inf  # the bucket keeps them
    asked: list[float] = []

    def slots_bind(rows_left: int, within: float) -> bool:
        asked.append(within)
        return True

    bound.slack(model, slots_bind=slots_bind)
    assert asked == [model.quantile(0.1)]  # of when a row may end, the soonest, not of now
    pace = Pace(waiting=100, last_create=50.0)
    assert pace.slack(model, at=51.0) == pytest.approx(0.5 * (50.0 + q95 - 51.0))
    assert pace.slack(model, at=50.0 + q95 + 1) == 0.0  # past the latest create's likely end
    q10 = model.quantile(0.1)
    assert q10 is not None
    crowd = Pace(waiting=CROWD + 1, last_create=50.0)  # a late notice hides behind the rows still running
    assert crowd.slack(model, at=100.0) == pytest.approx(0.5 * (q95 - q10))
    assert Pace(waiting=CROWD + 1).slack(observed([2.0] * 40), at=100.0) == 0.0  # all as long: no room
    assert not pace.closing
    assert Pace(waiting=CLOSING).closing
    assert not Pace(unstarted=1).closing


def replay(rows: int, burst: int, per_second: float, paced: bool) -> tuple[float, float]:
    """Replay a batch against lognormal latencies (median 3 s): rows created `burst` at once, then
    `per_second`; each row looks when the schedule says. (polls per row, last notice - last completion)."""
    rng = random.Random(3)
    latency = [rng.lognormvariate(math.log(3.0), 0.4) for _ in range(rows)]
    created = [0.0 if i < burst else (i - burst + 1) / per_second for i in range(rows)]
    model, pace = LatencyModel(), Pace(waiting=rows)
    due = [(created[i], i, 0) for i in range(rows)]
    heapq.heapify(due)
    noticed = [0.0] * rows
    scout = [False] * rows
    blind = [True] * rows  # the row's next look was decided while no latency was known
    polled = [0] * rows
    while due:
        t, i, looks = heapq.heappop(due)
        pace.unstarted = rows - bisect.bisect_right(created, t)  # what is yet to be created
        pace.last_create = created[max(0, bisect.bisect_right(created, t) - 1)]
        if looks == 0 and paced:
            scout[i] = pace.enlist(model)
        if looks and (not paced or not blind[i] or pace.may_poll_blind(scout[i], t - created[i])):
            polled[i] += 1
            if t >= created[i] + latency[i]:
                noticed[i] = t
                model.observe(latency[i])
                pace.waiting -= 1
                pace.discharge(scout[i])
                continue
        slack, closing = (pace.slack(model, at=t), pace.closing) if paced else (0.0, False)
        blind[i] = model.quantile(0.5) is None
        counted = looks if blind[i] else polled[i]
        delay = next_poll_delay(t - created[i], counted, model, slack, closing)
        heapq.heappush(due, (t + delay, i, looks + 1))
    last_done = max(c + s for c, s in zip(created, latency, strict=True))
    return sum(polled) / rows, max(noticed) - last_done


def test_a_paced_batch_polls_a_fraction_as_often_and_notices_its_last_row_as_soon() -> None:
    """Where a late look costs nothing (rows still to create) or little (most rows are not the last),
    polls drop to a fraction of the dense schedule's; the batch's end is noticed no later."""
    for rows, burst, per_second in ((1000, 1000, 1.0), (3000, 1000, 50.0)):
        dense_polls, dense_end = replay(rows, burst, per_second, paced=False)
        paced_polls, paced_end = replay(rows, burst, per_second, paced=True)
        assert paced_polls <= 0.6 * dense_polls, (rows, paced_polls, dense_polls)
        assert paced_end <= max(dense_end, MIN_INTERVAL) + 0.05, (rows, paced_end, dense_end)
