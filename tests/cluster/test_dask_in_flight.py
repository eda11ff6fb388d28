"""A Dask run holds `--max-in-flight` rows in flight, however many shards that takes
(`flows.cluster_run.together`).

A worker thread runs one Dask task at a time, and each task ran one shard, so a run held its cluster's
threads' shards' rows in flight at most: on 2 workers of 2 threads, shards of 5 rows held 20 at
`--max-in-flight 40`, as shards of 1,000 would hold 4,000 at `--max-in-flight 10000`, and nothing said
why. A run without a cluster had the same cap (two shards at once per endpoint) until 79503d2
(tests/flows/test_shards_in_flight.py).
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path

import pytest

from rowrelay.flows.cluster_run import together
from rowrelay.tasks.cluster.bank_service import limits_of
from rowrelay.tasks.cluster.shard_job import ShardJob
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import load
from tests.support.cli import exit_code, run_args, wait_until
from tests.support.dask_cluster import SharedClusters
from tests.support.dask_runs import env_on, in_flight, started
from tests.support.duplicates import jobs_of
from tests.support.emulator_process import emulator_process
from tests.support.tickets import write_tickets

ROWS, SHARD, MAX_IN_FLIGHT = 60, 5, 40
"""Twelve shards of 5 on the cluster's four threads: 20 rows in flight on the old code."""


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("rpm", [1000, 60_000])
def test_a_dask_run_holds_max_in_flight_rows_in_flight(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, clusters: SharedClusters, rpm: int
) -> None:
    """At 60,000 a minute a shard holds the bank's slots 2 at a time (`slot_chunk`): a shard of 5 took a
    sixth it never used, kept until the shard ended, and the run held 35 of its 40 in flight for ever.
    Now a shard that has started all its rows gives back what it holds beyond them at once."""
    cluster, _workers = clusters.ready()
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    log = tmp_path / "run.log"
    # Nothing completes while the test looks: every row in flight stays so until the run is stopped.
    with emulator_process("--latency", "fixed:3600") as emu:
        env = {**env_on(prefect_env, emu), "ROWRELAY_SHARD_SIZE": str(SHARD)}
        args = [*run_args(source, tmp_path), "--max-in-flight", str(MAX_IN_FLIGHT), "--rpm", str(rpm)]
        with started([*args, "--dask", cluster.address], env, log) as run:
            # On the old code four shards of 5 went in flight and the others waited for ever.
            wait_until(lambda: in_flight(emu) >= MAX_IN_FLIGHT, run, log)
            held = in_flight(emu)
            run.send_signal(signal.SIGINT)
            assert exit_code(run, log, within=120) == 130, log.read_text()[-3000:]
        jobs, _unanswered = jobs_of(emu.url)
    assert held == MAX_IN_FLIGHT  # the bank's in-flight gate still bounds them
    # no row was sent twice: each row's jobs are its attempts
    frame = load(tmp_path / "state")
    attempts = {key: n for key, n in zip(frame["row_key"], frame["attempts"], strict=True) if n}
    assert attempts == dict(jobs)
    assert set(jobs.values()) == {1}


def _jobs(sizes: Sequence[tuple[str | None, int]]) -> list[ShardJob]:
    settings = Settings()
    return [
        ShardJob(
            "state", number, [f"r{number}-{i}" for i in range(rows)], {}, settings, "bank", endpoint=name
        )
        for number, (name, rows) in enumerate(sizes)
    ]


def test_each_task_runs_enough_shards_to_hold_every_endpoints_max_in_flight() -> None:
    def limits(**max_in_flight: int) -> dict[str, dict[str, int]]:
        return {name: limits_of(500, 2_000_000, 3_000, n) for name, n in max_in_flight.items()}

    # 9 shards of 5 hold 40 and one more (`shards_at_once`), 3 a thread; 12 shards, 3 a thread
    assert together(_jobs([(None, 5)] * 12), limits(default=40), threads=4) == 3
    # the default 200 in shards of 1,000: one shard a task, as before
    assert together(_jobs([(None, 1000)] * 10), limits(default=200), threads=4) == 1
    # never more than an even share of the shards, so every thread has work
    assert together(_jobs([(None, 25)] * 4), limits(default=10_000), threads=4) == 1
    # each endpoint its own: east 11 shards of 100 (1,000), west 2 (the fewest)
    sizes = [("east", 100)] * 20 + [("west", 100)] * 4
    assert together(_jobs(sizes), limits(east=1000, west=50), threads=4) == 4
