"""A worker's link to its run's bank on the scheduler (a `BankLink`), over the worker's own connection.

The shard runs its own event loop in a Dask executor thread; the worker's RPC to the scheduler belongs to
the worker's loop, so each call is handed to that loop and awaited from ours. One call is one round trip
to the scheduler (measured in tests/benchmarks/bench_dask.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from distributed import Worker, get_worker

from rowrelay.tasks.cluster.bank_service import GONE
from rowrelay.tasks.errors import BankUnreachableError
from rowrelay.tasks.llm.bank import Kind


class DaskLink:
    """The bank `bank`, as seen by `holder` (one shard on this worker) for `endpoint`."""

    def __init__(self, bank: str, endpoint: str, shard: str, worker: Worker | None = None) -> None:
        self._worker = worker or get_worker()
        self._bank, self._endpoint = bank, endpoint
        # tornado's IOLoop runs on an asyncio loop: the one the worker's connections belong to
        self._loop: asyncio.AbstractEventLoop = self._worker.loop.asyncio_loop  # type: ignore[attr-defined]
        self.holder = f"{self._worker.address}/{shard}"
        """Named after the worker first, so a worker's departure frees what its shards held."""

    async def _call(self, op: str, **kwargs: Any) -> Any:
        call: Coroutine[Any, Any, Any] = getattr(self._worker.scheduler, op)(
            bank=self._bank, endpoint=self._endpoint, **kwargs
        )
        try:
            done = asyncio.run_coroutine_threadsafe(call, self._loop)
        except RuntimeError as exc:  # the worker's loop is closed: the worker is shutting down
            call.close()  # never scheduled: no "never awaited" warning
            raise _unreachable(exc) from exc
        try:
            answer = await asyncio.wrap_future(done)
        except (OSError, RuntimeError) as exc:  # CommClosedError is an OSError; a closed pool, a RuntimeError
            raise _unreachable(exc) from exc
        if answer == GONE:
            raise BankUnreachableError(f"the run's rate budget is gone from the Dask scheduler ({GONE})")
        return answer

    async def grant(self, kind: Kind, count: int, tokens: int) -> float:
        return float(await self._call("rowrelay_grant", kind=kind, count=count, tokens=tokens))

    async def pause(self, kind: Kind, seconds: float) -> None:
        await self._call("rowrelay_pause", kind=kind, seconds=seconds)

    async def hold(self, count: int) -> int:
        return int(await self._call("rowrelay_hold", holder=self.holder, count=count))

    async def release(self, count: int) -> None:
        await self._call("rowrelay_release", holder=self.holder, count=count)


def _unreachable(exc: BaseException) -> BankUnreachableError:
    return BankUnreachableError(
        f"the run's rate budget on the Dask scheduler cannot be reached ({type(exc).__name__}: {exc})"
    )
