"""The batch's one budget (tasks/llm/bank.py) and the workers' side of it (tasks/llm/shared.py), on a
virtual clock: several workers drawing on one bank keep its limits together, use them fully, and share
a pause; in-flight slots move to whoever needs them and come back from a worker that is gone."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from rowrelay.tasks.llm import OutputEstimate, RateBudget
from rowrelay.tasks.llm.bank import CREATE_BURST_SECONDS, Bank, Kind, Limits
from rowrelay.tasks.llm.shared import SharedSlots
from tests.support.budgets import answers_midway
from tests.support.virtual_time import run_in_virtual_time

EXACT = 1e-9  # float rounding of the clock's sums, not a timing window


class LocalLink:
    """A BankLink straight to an in-process bank (what the Dask RPC carries, minus the network); it
    counts the round trips a worker made."""

    def __init__(self, bank: Bank, holder: str, endpoint: str = "default") -> None:
        self.bank, self.holder, self.endpoint = bank, holder, endpoint
        self.calls = 0

    async def grant(self, kind: Kind, count: int, tokens: int) -> float:
        self.calls += 1
        return self.bank.grant(self.endpoint, kind, count, tokens)

    async def pause(self, kind: Kind, seconds: float) -> None:
        self.bank.pause(self.endpoint, kind, seconds)

    async def hold(self, count: int) -> int:
        self.calls += 1
        return self.bank.hold(self.endpoint, self.holder, count)

    async def release(self, count: int) -> None:
        self.bank.release(self.endpoint, self.holder, count)


def _bank(rpm: int = 600, tpm: int = 10**9, poll_rpm: int = 600, max_in_flight: int = 100) -> Bank:
    loop_time = lambda: asyncio.get_running_loop().time()  # noqa: E731  # the virtual clock
    return Bank({"default": Limits(rpm, tpm, poll_rpm, max_in_flight)}, loop_time)


def _budget(link: LocalLink, rpm: int = 600, tpm: int = 10**9, max_in_flight: int = 100) -> RateBudget:
    return RateBudget(rpm, tpm, 600, max_in_flight, OutputEstimate(10), shared=link)


async def _create_times(budgets: list[RateBudget], creates_each: int, tokens: int = 1) -> list[float]:
    loop, times = asyncio.get_running_loop(), []

    async def one(budget: RateBudget) -> None:
        await budget.acquire_create(tokens)
        times.append(loop.time())

    await asyncio.gather(*(one(b) for b in budgets for _ in range(creates_each)))
    return sorted(times)


def test_workers_together_keep_the_rate_and_use_all_of_it() -> None:
    async def main() -> tuple[list[float], list[LocalLink]]:
        bank = _bank(rpm=12_000)  # 200 a second
        links = [LocalLink(bank, f"w{i}") for i in range(3)]
        return await _create_times([_budget(link, rpm=12_000) for link in links], 400), links

    times, links = run_in_virtual_time(main)
    start = times[0]
    per_second = Counter(int(t - start) for t in times)
    burst, chunk = 200 * CREATE_BURST_SECONDS, Limits(12_000, 1, 1, 1).chunk("creates")
    assert per_second[0] <= 200 + burst + chunk  # one second's worth, the burst, one grant across it
    assert all(n <= 200 for second, n in per_second.items() if second > 0), per_second
    # 1,200 creates at 200 a second after the burst: all of the limit used, none lost to sharing
    assert times[-1] - start == pytest.approx((1200 - burst) / 200, abs=0.1)
    # A round trip per chunk, not per create; only in the opening burst, where no grant waits and so
    # nobody queues behind one, may each create ask alone.
    assert sum(link.calls for link in links) <= (1200 - burst) / chunk + burst + 2 * len(links)


def test_a_single_worker_gets_the_whole_rate() -> None:
    async def main() -> list[float]:
        link = LocalLink(_bank(rpm=600), "w0")
        return await _create_times([_budget(link)], 60)

    times = run_in_virtual_time(main)
    assert times[-1] - times[0] == pytest.approx((60 - 1 - 10 * CREATE_BURST_SECONDS) / 10, abs=0.15)


def test_tokens_per_minute_bind_across_workers() -> None:
    async def main() -> list[float]:
        bank = _bank(rpm=10**6, tpm=6_000)  # 100 tokens a second, half a second's worth at once
        links = [LocalLink(bank, f"w{i}") for i in range(2)]
        # each create is charged 100: a prompt of 90 and the output estimate of 10
        return await _create_times([_budget(link, rpm=10**6, tpm=6_000) for link in links], 40, tokens=90)

    times = run_in_virtual_time(main)
    # 8,000 tokens at 100 a second: the first create's 100 at once (a full bucket takes a create larger
    # than its burst), then one create a second. Neither worker's forty creates go out together, and no
    # minute's worth goes at once, which a server enforcing its limit per second would answer with 429s.
    assert times[-1] - times[0] == pytest.approx(79.0, abs=EXACT)
    assert max(Counter(int(t) for t in times).values()) == 1


def test_a_create_is_charged_the_output_estimate_of_when_it_asks_the_bank() -> None:
    async def main() -> list[float]:
        link = LocalLink(_bank(rpm=10**6, tpm=60_000), "w0")  # 1,000 tokens a second
        return await answers_midway(RateBudget(10**6, 60_000, 600, 100, OutputEstimate(None), shared=link))

    # The first two asked before any answer, charged 16 + 1,024 each (each alone: a create's tokens are
    # more than 50 ms of the rate); the other two ask later, charged 16 + 125, each going as soon as the
    # bank's half-second burst allows. Charged when they began to wait: 2.08 s and 3.12 s.
    times = run_in_virtual_time(main)
    assert times == [pytest.approx(each, abs=1e-6) for each in (0.0, 1.04, 1.72, 1.861)]


def test_workers_polling_a_rested_budget_keep_any_minute_near_it() -> None:
    """Polls burst a second's worth (POLL_BURST_SECONDS), not a minute's: after a quiet spell, two
    workers polling flat out see the budget in the next minute, and about a second's worth more."""

    async def main() -> list[float]:
        bank = _bank(poll_rpm=6_000)  # 100 a second
        budgets = [_budget(LocalLink(bank, f"w{i}")) for i in range(2)]
        loop = asyncio.get_running_loop()
        await asyncio.sleep(600)  # long-latency rows, nobody polling
        start, times = loop.time(), []

        async def poll(budget: RateBudget) -> None:
            while loop.time() - start < 60:
                await budget.acquire_poll()
                times.append(loop.time() - start)

        await asyncio.gather(*(poll(b) for b in budgets))
        return times

    times = run_in_virtual_time(main)
    chunk = Limits(1, 1, 6_000, 1).chunk("polls")
    in_the_minute = sum(1 for t in times if t < 60)
    assert 6_000 <= in_the_minute <= 6_000 + 100 + 2 * chunk  # a chunk granted ahead per worker
    assert sum(1 for t in times if t < 1) <= 2 * 100 + 2 * chunk


def test_a_pause_one_worker_reports_holds_every_worker() -> None:
    async def main() -> float:
        bank = _bank(rpm=6000)
        first, second = (_budget(LocalLink(bank, name)) for name in ("w0", "w1"))
        await first.acquire_create(1)
        first.on_rate_limited(5.0)  # a 429 with retry-after 5 s, seen by the first worker only
        await asyncio.sleep(0)  # the report reaches the bank
        loop = asyncio.get_running_loop()
        began = loop.time()
        await second.acquire_create(1)
        return loop.time() - began

    assert run_in_virtual_time(main) == pytest.approx(5.0, abs=0.01)


def test_in_flight_slots_are_shared_and_come_back() -> None:
    bank = Bank({"default": Limits(60, 60, 60, 5)}, lambda: 0.0)
    assert bank.hold("default", "10.0.0.1:4000/shard-0", 4) == 4
    assert bank.hold("default", "10.0.0.2:4000/shard-1", 4) == 1  # only what is left
    assert bank.hold("default", "10.0.0.2:4000/shard-1", 1) == 0
    bank.release("default", "10.0.0.1:4000/shard-0", 2)
    assert bank.hold("default", "10.0.0.2:4000/shard-1", 5) == 2
    assert bank.forget("10.0.0.1:4000/") == 2  # that worker is gone: what its shards held is free
    assert bank.in_flight("default") == 3


def test_in_flight_cap_holds_across_workers() -> None:
    async def main() -> int:
        bank = _bank(max_in_flight=6)
        budgets = [_budget(LocalLink(bank, f"w{i}/s"), max_in_flight=6) for i in range(3)]
        open_now, most = 0, 0

        async def row(budget: RateBudget) -> None:
            nonlocal open_now, most
            await budget.in_flight.acquire()
            open_now += 1
            most = max(most, open_now)
            await asyncio.sleep(1.0)
            open_now -= 1
            budget.in_flight.release()

        await asyncio.gather(*(row(b) for b in budgets for _ in range(10)))
        for budget in budgets:
            await budget.aclose()
        assert bank.in_flight("default") == 0  # every slot handed back at the end
        return most

    assert run_in_virtual_time(main) == 6


def test_a_shard_whose_rows_are_all_started_keeps_no_idle_slot() -> None:
    """At 60,000 creates a minute a shard holds slots 2 at a time (`slot_chunk`): a shard of 5 rows took
    a sixth it never used and kept it until it ended, as it kept the slots its ended rows freed (up to
    two chunks), while another shard's rows waited (35 of 40 in flight on a Dask cluster). Now the rest
    goes back once its rows are all started (`spare`, the runner's call), and each freed slot as its row
    ends, nobody here waiting for one."""

    async def main() -> tuple[int, int, int]:
        bank = _bank(rpm=60_000, max_in_flight=40)
        assert Limits(60_000, 10**9, 600, 40).slot_chunk() == 2
        slots = _budget(LocalLink(bank, "w0/shard-0"), rpm=60_000, max_in_flight=40).in_flight
        assert isinstance(slots, SharedSlots)
        for _ in range(5):  # as the runner starts a shard's rows: one at a time
            await slots.acquire()
        took = bank.in_flight("default")
        slots.spare()  # every row started
        await asyncio.sleep(0)  # the give-back reaches the bank
        started = bank.in_flight("default")
        slots.release()  # a row ends
        await asyncio.sleep(0)
        return took, started, bank.in_flight("default")

    assert run_in_virtual_time(main) == (6, 5, 4)
