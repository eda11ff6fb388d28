"""A worker's side of the batch's one budget (`bank.py`): creates, tokens, polls and in-flight slots
drawn from the bank in chunks, so that the sum over workers keeps the limits.

    link = ...                                  # a BankLink: the bank itself, or a Dask RPC to it
    budget = RateBudget(..., shared=link)       # then acquire_create / acquire_poll / in_flight as ever

Each acquisition that finds nothing left asks the bank once for what every caller waiting at that
moment needs (bounded by `Limits.chunk`), waits the delay the bank answers, and shares the grant out;
callers arriving meanwhile queue behind the one request in flight. In-flight slots are held in the same
way and handed back as soon as nobody here waits for one, so another worker can use them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from rowrelay.tasks.errors import BankUnreachableError
from rowrelay.tasks.llm.bank import Kind

RETRY_HOLD = 0.05
"""Seconds between asks for an in-flight slot when the bank has none free (others hold them all)."""


class BankLink(Protocol):
    """How a worker reaches the bank, bound to one endpoint and one holder name."""

    async def grant(self, kind: Kind, count: int, tokens: int) -> float: ...
    async def pause(self, kind: Kind, seconds: float) -> None: ...
    async def hold(self, count: int) -> int: ...
    async def release(self, count: int) -> None: ...


class SharedRate:
    """Permits of one kind (creates with their tokens, or polls) drawn from the bank.

    Creates are asked for as they wait: a create permit granted ahead and sent late would bunch with
    the next grant's and crowd the server's window. Polls are asked for a whole chunk at a time: they
    may burst a second's worth (twenty chunks), and one arrives at a time, so asking as they wait cost a
    round trip a poll (bench_dask). A grant of creates also stays within `token_chunk` of their tokens:
    the bank lets a grant larger than its burst go at once when its bucket is full, so forty creates'
    tokens asked for together would go out as a burst of forty seconds of the token rate."""

    def __init__(
        self,
        link: BankLink,
        kind: Kind,
        chunk: int,
        sleep: Callable[[float], Awaitable[None]],
        token_chunk: int | None = None,
    ) -> None:
        self._link, self._kind, self._chunk, self._sleep = link, kind, chunk, sleep
        self._token_chunk = token_chunk
        self._ahead = kind == "polls"
        self._permits = 0
        self._tokens = 0
        self._waiting = 0
        self._asking = asyncio.Lock()

    async def acquire(self, estimate: Callable[[], int] | None = None) -> None:
        """One permit, and (for a create) the tokens `estimate` gives when this caller's turn to ask
        comes: the output estimate falls once answers come back (`RateBudget.acquire_create`)."""
        self._waiting += 1
        try:
            tokens = 0 if estimate is None else estimate()
            while self._permits < 1 or self._tokens < tokens:
                async with self._asking:
                    tokens = 0 if estimate is None else estimate()
                    if self._permits >= 1 and self._tokens >= tokens:
                        break
                    wanted_now = self._chunk if self._ahead else min(self._chunk, self._waiting)
                    if tokens and self._token_chunk is not None:
                        wanted_now = min(wanted_now, self._token_chunk // tokens)
                    count = max(1, wanted_now) if self._permits < 1 else 0
                    # tokens for the creates asked for, or (permits in hand) for this one
                    wanted = max(0, max(count, 1) * tokens - self._tokens)
                    delay = await self._link.grant(self._kind, count, wanted)
                    if delay > 0:
                        await self._sleep(delay)
                    self._permits += count
                    self._tokens += wanted
            self._permits -= 1
            self._tokens -= tokens
        finally:
            self._waiting -= 1


class SharedSlots:
    """In-flight slots held from the bank: `acquire()` / `release()`, as an asyncio.Semaphore's.

    Slots are held `chunk` at a time: a slot per round trip (a row starts, a row ends) was most of a run's
    calls on the scheduler (bench_dask). A freed slot is kept while a row here waits for one, and handed
    back once none does: the shard's rows are then all started (its runner asks for the next one as soon
    as it has the last), so nothing here would use it. Before, two chunks were kept idle, and the last
    chunk's rest until the shard ended: at 60,000 creates a minute (chunks of 2) shards of 5 rows took 6
    slots each, and a run held 35 of its 40 in flight for ever, others' rows waiting on the 5."""

    def __init__(self, link: BankLink, chunk: int, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._link, self._chunk, self._sleep = link, chunk, sleep
        self._free = 0
        self._held = 0
        self._waiting = 0
        self._asking = asyncio.Lock()
        self._returns: set[asyncio.Task[None]] = set()

    async def acquire(self) -> None:
        self._waiting += 1
        try:
            while self._free < 1:
                async with self._asking:
                    if self._free >= 1:
                        break
                    got = await self._link.hold(max(self._chunk, self._waiting))
                    self._free += got
                    self._held += got
                    if not got:
                        await self._sleep(RETRY_HOLD)
            self._free -= 1
        finally:
            self._waiting -= 1

    def release(self) -> None:
        self._free += 1
        self.spare()

    def spare(self) -> None:
        """Hand back every free slot unless a row here waits for one: called as a row ends, and by the
        runner once its shard's rows are all started (the rest of the chunk its last row took)."""
        if self._waiting == 0 and self._free:
            count, self._free, self._held = self._free, 0, self._held - self._free
            task = asyncio.get_running_loop().create_task(self._give_back(count))
            self._returns.add(task)  # keep a reference until done: the loop holds tasks only weakly
            task.add_done_callback(self._returns.discard)

    async def aclose(self) -> None:
        """Give back everything still held (at the end of the shard)."""
        if self._returns:
            await asyncio.gather(*self._returns, return_exceptions=True)
        if self._held:
            count, self._held, self._free = self._held, 0, 0
            await self._give_back(count)

    async def _give_back(self, count: int) -> None:
        # A bank out of reach holds nothing that matters any more (it frees a worker's slots when the
        # worker leaves); raising here would hide the error that stopped the shard, if any.
        with contextlib.suppress(BankUnreachableError):
            await self._link.release(count)
