"""The bank on the Dask scheduler: installed by the coordinator, reached by workers over the scheduler's
own RPC (the way Dask's Semaphore and Lock extensions are), forgotten when the run ends.

    client.run_on_scheduler(install_bank, bank_id, {"default": Limits(...)})   # coordinator, at start
    await worker.scheduler.rowrelay_grant(bank=..., endpoint=..., kind=..., count=..., tokens=...)

Every batch run gets its own bank id, so runs sharing a cluster never share a budget. A worker that
leaves the cluster (finished, killed) gives back the in-flight slots its shards held: the scheduler
plugin below hears of it before anything reschedules the shard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from distributed import Scheduler
from distributed.diagnostics.plugin import SchedulerPlugin

from rowrelay.tasks.llm.bank import Bank, Kind, Limits

log = logging.getLogger("rowrelay.cluster")
EXTENSION = "rowrelay_banks"
GONE = "rowrelay: no such budget on this scheduler (its run has ended)"
"""What a handler answers for a bank the scheduler no longer holds: the coordinator ended the run (an
outage, a stopped run) while a shard still asked. An answer, not a raised error, which the scheduler
would log as an ERROR with a traceback on the command's console; the shard's link stops the shard."""


class Banks(SchedulerPlugin):
    """Every run's bank on this scheduler, by bank id; its methods are the scheduler's handlers."""

    name = "rowrelay-banks"

    def __init__(self) -> None:
        self.banks: dict[str, Bank] = {}
        self.workers_left: dict[str, int] = {}
        """Workers that left while each bank was installed (its run going on): a killed worker's shard
        runs again elsewhere, and what the dead run sent but its creates is known to nobody."""

    def grant(self, bank: str, endpoint: str, kind: Kind, count: int, tokens: int) -> float | str:
        held = self.banks.get(bank)
        return GONE if held is None else held.grant(endpoint, kind, count, tokens)

    def pause(self, bank: str, endpoint: str, kind: Kind, seconds: float) -> str | None:
        held = self.banks.get(bank)
        if held is None:
            return GONE
        held.pause(endpoint, kind, seconds)
        return None

    def hold(self, bank: str, endpoint: str, holder: str, count: int) -> int | str:
        held = self.banks.get(bank)
        return GONE if held is None else held.hold(endpoint, holder, count)

    def release(self, bank: str, endpoint: str, holder: str, count: int) -> None:
        if bank in self.banks:  # a shard finishing after its run ended has nothing to give back
            self.banks[bank].release(endpoint, holder, count)

    def stats(self, bank: str) -> dict[str, Any] | str:
        held = self.banks.get(bank)
        return GONE if held is None else stats_of(held)

    def remove_worker(self, scheduler: Scheduler, worker: str, *, stimulus_id: str, **kwargs: Any) -> None:
        for bank_id, bank in self.banks.items():
            self.workers_left[bank_id] = self.workers_left.get(bank_id, 0) + 1
            freed = bank.forget(f"{worker}/")
            if freed:
                log.warning(
                    "budget %s: worker %s left holding %d in-flight slots; given back", bank_id, worker, freed
                )


def install_bank(bank_id: str, limits: Mapping[str, dict[str, int]], dask_scheduler: Scheduler) -> None:
    """Run on the scheduler (`Client.run_on_scheduler`): the banks extension once, then this run's bank."""
    banks = dask_scheduler.extensions.get(EXTENSION)
    if not isinstance(banks, Banks):
        banks = Banks()
        dask_scheduler.extensions[EXTENSION] = banks
        dask_scheduler.handlers.update(
            rowrelay_grant=banks.grant,
            rowrelay_pause=banks.pause,
            rowrelay_hold=banks.hold,
            rowrelay_release=banks.release,
            rowrelay_stats=banks.stats,
        )
        dask_scheduler.add_plugin(banks, name=Banks.name)
    banks.banks[bank_id] = Bank({name: Limits(**each) for name, each in limits.items()}, time.monotonic)


def drop_bank(bank_id: str, dask_scheduler: Scheduler) -> dict[str, Any]:
    """Run on the scheduler at the end of the run: forget its bank; returns its stats and how many
    workers left the cluster meanwhile."""
    banks = dask_scheduler.extensions.get(EXTENSION)
    if not isinstance(banks, Banks) or bank_id not in banks.banks:
        return {}
    return {**stats_of(banks.banks.pop(bank_id)), "workers_left": banks.workers_left.pop(bank_id, 0)}


def stats_of(bank: Bank) -> dict[str, Any]:
    """What a bank did, as plain data: its round trips, and the creates and polls each endpoint granted."""
    return {"calls": bank.calls, "granted": bank.granted()}


def limits_of(rpm: int, tpm: int, poll_rpm: int, max_in_flight: int) -> dict[str, int]:
    """An endpoint's limits as the scheduler receives them (plain data: no class of ours to unpickle)."""
    return asdict(Limits(rpm, tpm, poll_rpm, max_in_flight))
