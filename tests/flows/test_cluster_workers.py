"""The one decision of when a Dask run stops waiting for workers (`cluster_workers.NoWorkers`), on a
clock the test gives: the bound counts from the first look that found no running worker, a worker seen
again starts it afresh, 0 waits for ever, and the progress line's hold says how long is left; a scheduler
that cannot be reached counts as no worker, and Dask's client giving up on it stops the run at once.
(That a run on a real cluster stops by it, and resumes, is tests/cluster/test_workers_gone.py's.)"""

from __future__ import annotations

import math

from rowrelay.flows.cluster_workers import NoWorkers
from rowrelay.tasks.errors import SchedulerGoneError, WorkersGoneError
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


ADDRESS = "tcp://10.0.0.5:8786"
UNREACHED = "no Dask worker can be reached (the scheduler does not answer)"


def test_a_scheduler_that_does_not_answer_stops_the_run_after_the_bound_never_at_one_look() -> None:
    gone = NoWorkers(60.0)
    gone.saw(None, 0.0)  # a look that could not reach the scheduler: the bound starts, nothing stops
    assert not gone.over(0.0)
    assert gone.held(30.0) == Hold("workers", 30.0, UNREACHED)
    gone.saw(True, 59.0)  # answered again in time: the shards go on
    assert (gone.over(59.0), gone.held(59.0)) == (False, None)
    gone.saw(None, 100.0)
    gone.saw(None, 160.0)
    assert gone.over(160.0)
    stop = gone.stop(ADDRESS, 10.0)
    assert isinstance(stop, SchedulerGoneError)
    assert isinstance(stop, WorkersGoneError)  # stopped, said and exited as one
    assert str(stop).startswith(
        f"the Dask scheduler at {ADDRESS} cannot be reached: it has not answered for 60 s "
        "(ROWRELAY_DASK_NO_WORKERS_AFTER sets how long a run waits for it), so the run stopped; "
        "nothing is lost"
    )
    assert "the same command resumes them once a cluster is there" in str(stop)


def test_no_worker_then_no_scheduler_is_said_as_the_scheduler() -> None:
    gone = NoWorkers(60.0)
    gone.saw(False, 0.0)
    gone.saw(None, 60.0)  # the bound from the first look to find no worker the run can reach
    assert gone.over(60.0)
    assert isinstance(gone.stop(ADDRESS, 10.0), SchedulerGoneError)
    gone.saw(False, 61.0)
    assert type(gone.stop(ADDRESS, 10.0)) is WorkersGoneError


def test_a_client_that_gave_up_reconnecting_stops_the_run_at_once_whatever_the_bound() -> None:
    for status in ("closing", "closed"):
        gone = NoWorkers(0.0)  # even waiting for ever: a closed client does not come back
        gone.saw(None, 0.0, status)
        assert gone.over(0.0)
        assert str(gone.stop(ADDRESS, 10.0)).startswith(
            f"the Dask scheduler at {ADDRESS} cannot be reached: the connection to it was lost and Dask's "
            "client gave up reconnecting after 10 s, so the run stopped"
        )


def test_futures_dropped_with_the_connection_wait_for_the_clients_reconnection() -> None:
    gone = NoWorkers(60.0, dropped=True)
    gone.saw(None, 0.0, "connecting")  # Dask's client still trying: its own timeout decides
    assert not gone.over(0.0)
    gone.saw(True, 1.0, "running")  # back, but the shards' tasks went with the connection
    assert gone.over(1.0)
    assert str(gone.stop(ADDRESS, 10.0)).startswith(
        f"the connection to the Dask scheduler at {ADDRESS} was lost mid-run, and Dask dropped the shards' "
        "tasks with it, so the run stopped; nothing is lost"
    )
