"""The coordinator of a Dask run refreshes its lease while its shards run (`coordinator_kept_alive`):
it writes no row meanwhile, and only a commit refreshed the lease, so another run took the batch over as
stale 60 s in. Time is the test's: the keeper's sleep moves a fake clock the lease reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rowrelay.flows.cluster_run import BEAT_EVERY, coordinator_kept_alive
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.files import MAIN_WRITER
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, live_holder, read_lease
from tests.support.state import FakeClock


async def test_the_lease_stays_live_while_the_shards_run(tmp_path: Path) -> None:
    clock = FakeClock()
    directory = tmp_path / "batch"
    slept: list[float] = []
    eight_beats = asyncio.Event()
    beyond = asyncio.Event()  # never set: the keeper waits here once it has beaten eight times

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 8:
            eight_beats.set()
            await beyond.wait()
        clock.advance(seconds)

    with StateTable.open(directory, batch_id="b1", clock=clock) as table:
        opened = clock.now
        async with coordinator_kept_alive(table.heartbeat, sleep=sleep):
            await eight_beats.wait()
        assert clock.now - opened == 8 * BEAT_EVERY > LEASE_TIMEOUT  # stale by now, had nothing beat
        lease = read_lease(directory / "leases" / f"{MAIN_WRITER}.json")
        assert lease is not None
        assert lease.heartbeat == clock.now
        assert live_holder(directory, MAIN_WRITER, clock.now + BEAT_EVERY) is not None
        assert set(slept) == {BEAT_EVERY}
