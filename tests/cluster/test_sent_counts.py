"""What a Dask run says it sent (`cluster_run.requests_sent`): the shards' reports added up, and the
creates of shard runs that never reported (their worker died) found as the attempts the table gained
beyond them."""

from __future__ import annotations

from rowrelay.flows.cluster_run import requests_sent
from rowrelay.tasks.cluster.shard_job import ShardOutcome


def _outcome(creates: int, polls: int, spent: int, rate_limited: int = 0) -> ShardOutcome:
    counters = {"creates": creates, "polls": polls, "rate_limited": rate_limited}
    return ShardOutcome({"completed": spent}, counters, "w", attempts_spent=spent)


def test_a_shard_run_that_never_reported_adds_the_attempts_it_spent() -> None:
    # shard 1's first run created 30 rows' jobs and died; its second run created the other 20
    counters = requests_sent([_outcome(50, 40, 50), _outcome(20, 30, 20)], spent=100, workers_left=1)
    assert (counters.creates, counters.polls, counters.workers_lost) == (100, 70, 1)


def test_a_run_where_every_shard_reported_is_its_reports() -> None:
    # a 429'd create is a request sent that spends no attempt: it stays counted, and no worker is lost
    counters = requests_sent(
        [_outcome(55, 40, 50, rate_limited=5), _outcome(50, 30, 50)], spent=100, workers_left=0
    )
    assert (counters.creates, counters.rate_limited, counters.workers_lost) == (105, 5, 0)


def test_attempts_no_report_names_mean_a_lost_run_though_no_worker_was_seen_leaving() -> None:
    counters = requests_sent([_outcome(50, 40, 50)], spent=60, workers_left=0)
    assert (counters.creates, counters.workers_lost) == (60, 1)
