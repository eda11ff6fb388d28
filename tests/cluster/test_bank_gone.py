"""A shard that asks its run's bank for a grant after the run has dropped it (an outage or a stop ended
the run while the shard still ran) stops on `BankUnreachableError`, and the scheduler logs no error: it
printed a traceback on the command's console (`test_outage_cli.py`'s Dask case, on a loaded machine)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from distributed import Client, LocalCluster

from rowrelay.flows.cluster import LOCAL_CLUSTER_HTTP
from rowrelay.tasks.cluster.bank_service import drop_bank, install_bank, limits_of
from rowrelay.tasks.errors import BankUnreachableError


def _grant_after_the_run_ended(bank: str) -> str:
    """On the worker, as a shard asks: what the grant raised."""
    from rowrelay.tasks.cluster.link import DaskLink

    link = DaskLink(bank, "default", "shard-0")
    try:
        asyncio.run(link.grant("creates", 1, 1))
    except BankUnreachableError as exc:
        return str(exc)
    return "granted"


def test_a_grant_from_a_dropped_bank_stops_the_shard_and_the_scheduler_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        LocalCluster(n_workers=1, processes=False, **LOCAL_CLUSTER_HTTP) as cluster,  # type: ignore[no-untyped-call]
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        client.run_on_scheduler(install_bank, "rowrelay-ended", {"default": limits_of(60, 10**6, 60, 10)})
        assert client.run_on_scheduler(drop_bank, "rowrelay-ended") == {
            "calls": 0,
            "granted": {"default": {"creates": 0, "polls": 0, "rpm": 60, "poll_rpm": 60}},
            "workers_left": 0,
        }
        with caplog.at_level(logging.WARNING):
            said = client.submit(_grant_after_the_run_ended, "rowrelay-ended").result()
    assert "the run's rate budget is gone from the Dask scheduler" in said
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
