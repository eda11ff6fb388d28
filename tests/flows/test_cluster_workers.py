"""The one decision of when a Dask run stops waiting for workers (`cluster_workers.NoWorkers`), on a
clock the test gives: the bound counts from the first look that found no running worker, a worker seen
again starts it afresh, 0 waits for ever, and the progress line's hold says how long is left. (That a run
on a real cluster stops by it, and resumes, is tests/cluster/test_workers_gone.py's.)"""

from __future__ import annotations

import math

from rowrelay.flows.cluster_workers import NoWorkers
from rowrelay.tasks.llm.holds import Hold

NONE = "no Dask worker is running"


def test_the_run_stops_once_the_cluster_has_had_no_worker_for_the_bound() -> None:
    gone = NoWorkers(60.0)
    gone.saw(True, 100.0)
    assert (gone.over(100.0), gone.held(100.0)) == (False, None)
    gone.saw(False, 110.0)  # the first look to find none
    gone.saw(False, 150.0)  # the bound counts from the first, not the latest
    assert not gone.over(169.9)
    assert gone.held(150.0) == Hold("workers", 20.0, NONE)
    assert gone.over(170.0)
    assert gone.held(200.0) == Hold("workers", 0.0, NONE)


def test_a_worker_back_within_the_bound_starts_it_afresh() -> None:
    gone = NoWorkers(60.0)
    gone.saw(False, 0.0)
    gone.saw(True, 59.0)  # a nanny's worker restarted in time: the shards go on
    assert (gone.over(59.0), gone.held(59.0)) == (False, None)
    gone.saw(False, 100.0)  # gone again: a new wait of the whole bound
    assert not gone.over(159.0)
    assert gone.over(160.0)


def test_zero_waits_for_ever() -> None:
    gone = NoWorkers(0.0)
    gone.saw(False, 0.0)
    assert not gone.over(1e9)
    assert gone.held(1e9) == Hold("workers", math.inf, NONE)


def test_looks_come_a_tenth_of_the_bound_apart_within_limits() -> None:
    """The stop comes at most a look late; a look is one call to the scheduler."""
    assert NoWorkers(60.0).look == 2.0
    assert NoWorkers(5.0).look == 0.5
    assert NoWorkers(0.2).look == 0.1  # Dask takes a wait of 0 s as a wait without end
    assert NoWorkers(0.0).look == 2.0
