"""The adaptive poll schedule is a pure function: time is a parameter, nothing sleeps here."""

from __future__ import annotations

import itertools
import random

from rowrelay.tasks.run.schedule import (
    FIRST_LOOK_FLOOR,
    FIRST_POLL,
    MAX_INTERVAL,
    MIN_INTERVAL,
    LatencyModel,
    next_poll_delay,
)


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
