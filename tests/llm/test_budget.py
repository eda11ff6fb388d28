"""The rate budget: its pure parts, and its rates, pauses and gates timed on a virtual clock.

The budget times everything through its event loop (aiolimiter's buckets, its own pauses), so these
tests run it on a VirtualTimeLoop: the waits are exact and take no wall time, whatever the machine's load.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rowrelay.tasks.llm.budget import RateBudget
from rowrelay.tasks.llm.estimates import DEFAULT_OUTPUT_ESTIMATE, OutputEstimate
from rowrelay.tasks.llm.holds import BACKOFF_FIRST, STREAK_FORGOTTEN, Hold
from rowrelay.tasks.llm.limit_headers import parse_duration, refill_wait, retry_after
from tests.support.budgets import answers_midway
from tests.support.virtual_time import run_in_virtual_time

EXACT = 1e-9  # float rounding of the clock's sums, not a timing window


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12ms", 0.012),
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("0.5", 0.5),
        ("", None),
        ("x", None),
    ],
)
def test_parse_duration_reads_go_style_reset_headers(text: str, seconds: float | None) -> None:
    assert (
        parse_duration(text) == pytest.approx(seconds)
        if seconds is not None
        else parse_duration(text) is None
    )


def test_retry_after_prefers_milliseconds_like_the_sdk() -> None:
    assert retry_after({"retry-after-ms": "250", "retry-after": "3"}) == pytest.approx(0.25)
    assert retry_after({"retry-after-ms": "1500"}) == pytest.approx(1.5)
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "0.5"}) == 0.5
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_retry_after_never_waits_a_negative_or_endless_time() -> None:
    assert retry_after({"retry-after-ms": "-250"}) == 0.0
    assert retry_after({"retry-after": "-3"}) == 0.0
    # Not finite is not an instruction: `inf` honoured would pause the run for ever.
    assert retry_after({"retry-after-ms": "inf"}) is None
    assert retry_after({"retry-after-ms": "nan"}) is None
    assert retry_after({"retry-after": "inf"}) is None
    # A retry-after-ms that says nothing usable leaves the decision to retry-after.
    assert retry_after({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "inf", "retry-after": "3"}) == 3.0


DATE = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set far from UTC: a date read as local time would be hours off."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
@pytest.mark.parametrize(
    "form",
    [
        "Wed, 21 Oct 2026 07:28:00 GMT",  # IMF-fixdate, what servers send
        "Wednesday, 21-Oct-26 07:28:00 GMT",  # RFC 850, obsolete but still to be accepted
        "Wed Oct 21 07:28:00 2026",  # asctime, obsolete, no zone: UTC all the same
    ],
)
def test_retry_after_as_an_http_date_is_the_time_until_that_date(form: str) -> None:
    assert time.localtime(DATE).tm_gmtoff != 0, "the fixture should move the local zone off UTC"
    assert retry_after({"retry-after": form}, now=lambda: DATE - 90.0) == 90.0
    assert retry_after({"retry-after": form}, now=lambda: DATE - 0.5) == 0.5
    # A date already past (a slow reply, a skewed clock) means go now, not a negative wait.
    assert retry_after({"retry-after": form}, now=lambda: DATE + 30.0) == 0.0
    # Milliseconds still come first, as in the SDK.
    assert retry_after({"retry-after-ms": "250", "retry-after": form}, now=lambda: DATE - 90.0) == 0.25


def test_output_estimate_uses_ceiling_then_reconciles_with_usage() -> None:
    assert OutputEstimate(ceiling=300).value() == 300
    estimate = OutputEstimate(ceiling=None)
    assert estimate.value() == DEFAULT_OUTPUT_ESTIMATE
    for _ in range(10):
        estimate.observe(100)
    assert estimate.value() == 125  # mean plus a 25% margin


def test_refill_wait_is_the_time_for_the_missing_units() -> None:
    assert refill_wait(1, 0, 3000) == pytest.approx(0.02)  # 3,000 a minute: one every 20 ms
    assert refill_wait(1, 5, 3000) == 0.0
    assert refill_wait(1000, 500, 2_000_000) == pytest.approx(0.015)
    assert refill_wait(500, 0, 100) == 60.0  # more than the limit waits for the whole of it


def _budget(rpm: int = 10_000, tpm: int = 10_000_000, poll_rpm: int = 10_000, output: int = 64) -> RateBudget:
    """A budget whose creates are charged their prompt and `output` tokens (the max output)."""
    return RateBudget(rpm=rpm, tpm=tpm, poll_rpm=poll_rpm, max_in_flight=4, output=OutputEstimate(output))


def _clock() -> float:
    return asyncio.get_running_loop().time()


async def _create_times(budget: RateBudget, count: int, prompt: int = 10) -> list[float]:
    """Seconds from now at which each of `count` creates of a `prompt`-token prompt, acquired one after
    another, gets through."""
    start = _clock()
    times = []
    for _ in range(count):
        await budget.acquire_create(prompt)
        times.append(_clock() - start)
    return times


def _requests_left(remaining: int, limit: int = 600) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": "1s",
    }


def test_creates_burst_half_a_second_of_the_rate_then_go_one_per_refill() -> None:
    async def main() -> list[float]:
        return await _create_times(_budget(rpm=600), 7)

    # 600/min is 10/s: a burst of 5, then one every 0.1 s. A minute's worth at once (600) is what a
    # server enforcing the limit per second answers with 429s.
    times = run_in_virtual_time(main)
    assert times[:5] == [0.0] * 5
    assert times[5:] == [pytest.approx(0.1, abs=EXACT), pytest.approx(0.2, abs=EXACT)]


def test_a_server_showing_a_fuller_bucket_lets_creates_burst_to_it_less_half_a_second() -> None:
    async def main() -> list[float]:
        budget = _budget(rpm=600)
        # The server took this create and still holds 59: its bucket holds at least 60. Keep half a
        # second (5) back, for requests that reach it bunched.
        budget.observe_headers(_requests_left(59), tokens_needed=10)
        return await _create_times(budget, 56)

    times = run_in_virtual_time(main)
    assert times[:55] == [0.0] * 55
    assert times[55] == pytest.approx(0.1, abs=EXACT)


def test_the_burst_never_passes_a_minute_of_the_runs_own_rate() -> None:
    async def main() -> list[float]:
        budget = _budget(rpm=600)
        budget.observe_headers(_requests_left(29_999, limit=30_000), tokens_needed=10)
        return await _create_times(budget, 596)

    times = run_in_virtual_time(main)
    assert times[:595] == [0.0] * 595
    assert times[595] == pytest.approx(0.1, abs=EXACT)


def test_a_create_429_keeps_the_burst_to_half_a_second_for_the_rest_of_the_run() -> None:
    async def main() -> list[float]:
        budget = _budget(rpm=600)
        budget.observe_headers(_requests_left(299), tokens_needed=10)
        budget.on_rate_limited(None)  # the server's window is shorter than its headers showed
        await asyncio.sleep(BACKOFF_FIRST)  # its pause over
        budget.observe_headers(_requests_left(599), tokens_needed=10)  # and they are no longer believed
        return await _create_times(budget, 6)

    times = run_in_virtual_time(main)
    assert times[:5] == [0.0] * 5
    assert times[5] == pytest.approx(0.1, abs=EXACT)


def test_a_poll_429_leaves_the_create_burst_alone() -> None:
    async def main() -> list[float]:
        budget = _budget(rpm=600)
        budget.observe_headers(_requests_left(59), tokens_needed=10)
        budget.on_rate_limited(0.0, poll=True)
        return await _create_times(budget, 56)

    times = run_in_virtual_time(main)
    assert times[:55] == [0.0] * 55
    assert times[55] == pytest.approx(0.1, abs=EXACT)


def test_creates_are_held_to_the_tokens_per_minute() -> None:
    async def main() -> list[float]:
        budget = _budget(tpm=1200, output=0)
        start = _clock()
        times = []
        # A create bigger than the whole minute is charged the minute (it could never fit otherwise).
        for tokens in (1200, 600, 5000):
            await budget.acquire_create(tokens)
            times.append(_clock() - start)
        return times

    first, second, third = run_in_virtual_time(main)
    assert first == 0.0
    # Each is more than the burst (10 tokens), so each waits for the one before to be paid back: never
    # more than the minute's 1,200 in any minute, where a bucket left at 1,200 let 1,800 go in 30 s.
    assert second == pytest.approx(60.0, abs=EXACT)
    assert third == pytest.approx(90.0, abs=EXACT)  # 600 paid back in 30 s


def test_a_create_the_server_refused_gives_its_tokens_back() -> None:
    """A row too large for a 20,000/min limit learned from the server's headers is charged more than a
    minute of it; the server refuses it (a 429 no wait cures) having taken nothing from its bucket. Kept,
    the charge held every later create for over a minute, and each such row another (114 s for a
    40-row batch that took 1.5 s without its two long rows)."""

    async def main() -> list[float]:
        budget = _budget(output=100)
        budget.observe_headers(_tokens_left(19_000, limit=20_000), tokens_needed=100)
        await budget.acquire_create(22_000)  # goes alone, the bucket being empty
        waiting = asyncio.ensure_future(_create_times(budget, 2, prompt=50))  # asleep until the charge drains
        await asyncio.sleep(1.0)
        budget.give_back_create(22_000)  # its answer: refused, nothing started
        return await waiting

    # The create asleep behind the charge wakes at the give-back, not 66 s later; the next follows it.
    assert run_in_virtual_time(main) == [pytest.approx(1.0, abs=EXACT), pytest.approx(1.0, abs=EXACT)]


def _tokens_left(remaining: int, limit: int = 12_000) -> dict[str, str]:
    return {
        "x-ratelimit-limit-tokens": str(limit),
        "x-ratelimit-remaining-tokens": str(remaining),
        "x-ratelimit-reset-tokens": "1s",
    }


def test_tokens_burst_half_a_second_of_their_rate_not_a_minute() -> None:
    async def main() -> list[float]:
        return await _create_times(_budget(tpm=12_000, output=0), 4, prompt=50)

    # 12,000 tokens/min is 200/s: 100 tokens (two creates) at once, then a create every 0.25 s. A
    # minute's worth at once (240 creates) is what a server enforcing the limit per second answers with
    # 429s: measured against the emulator, 1,001 429s for 2,000 rows.
    times = run_in_virtual_time(main)
    assert times[:2] == [0.0, 0.0]
    assert times[2:] == [pytest.approx(0.25, abs=EXACT), pytest.approx(0.5, abs=EXACT)]


def test_a_server_showing_a_fuller_token_bucket_lets_tokens_burst_to_it_less_half_a_second() -> None:
    async def main() -> list[float]:
        budget = _budget(tpm=12_000, output=0)
        budget.observe_headers(_tokens_left(1_199), tokens_needed=10)  # it holds 1,200; keep 100 back
        return await _create_times(budget, 23, prompt=50)

    times = run_in_virtual_time(main)
    assert times[:22] == [0.0] * 22
    assert times[22] == pytest.approx(0.25, abs=EXACT)


def test_a_create_429_keeps_the_token_burst_to_half_a_second_for_the_rest_of_the_run() -> None:
    async def main() -> list[float]:
        budget = _budget(tpm=12_000, output=0)
        budget.observe_headers(_tokens_left(1_199), tokens_needed=10)
        budget.on_rate_limited(None)
        await asyncio.sleep(BACKOFF_FIRST)
        budget.observe_headers(_tokens_left(11_999), tokens_needed=10)
        return await _create_times(budget, 3, prompt=50)

    times = run_in_virtual_time(main)
    assert times[:2] == [0.0, 0.0]
    assert times[2] == pytest.approx(0.25, abs=EXACT)


def test_a_create_larger_than_the_token_burst_goes_alone_and_leaves_the_burst_as_it_was() -> None:
    async def main() -> list[float]:
        budget = _budget(tpm=12_000, output=0)  # 200 tokens a second, 100 at once
        start, times = _clock(), []
        for prompt in (600, 50, 50):  # a long prompt, then two short ones
            await budget.acquire_create(prompt)
            times.append(_clock() - start)
        await asyncio.sleep(20 - (_clock() - start))  # the bucket long full again
        for _ in range(4):
            await budget.acquire_create(50)
            times.append(_clock() - start)
        return times

    # The long one goes at once from a full bucket; its 600 are paid back at 200 a second before the
    # next 50 go (2.75 s). Later, short creates burst 100 tokens again, not the long one's 600.
    times = run_in_virtual_time(main)
    expected = [0.0, 2.75, 3.0, 20.0, 20.0, 20.25, 20.5]
    assert times == [pytest.approx(each, abs=1e-6) for each in expected]


def test_a_create_waiting_for_tokens_is_charged_the_output_estimate_of_its_turn() -> None:
    async def main() -> list[float]:
        return await answers_midway(
            RateBudget(rpm=10_000, tpm=60_000, poll_rpm=10_000, max_in_flight=4, output=OutputEstimate(None))
        )

    # 1,000 tokens a second, 500 at once. The first two creates reached the front of the line before any
    # answer and are charged the opening guess (16 + 1,024: each goes alone, once the one before is paid
    # back); the two behind them are charged 16 + 125 each, when they reach it, and go once the bucket is
    # back to its burst. Charged when they began to wait, they would have gone at 2.08 s and 3.12 s.
    times = run_in_virtual_time(main)
    expected = [0.0, 1.04, 1.721, 1.862]
    assert times == [pytest.approx(each, abs=1e-6) for each in expected]


@pytest.mark.parametrize(("streaming", "way_out"), [(False, ", or use --mode stream"), (True, "")])
def test_polls_waiting_long_for_their_budget_for_half_a_minute_are_said_once(
    caplog: pytest.LogCaptureFixture, streaming: bool, way_out: str
) -> None:
    async def main() -> None:
        budget = _budget(poll_rpm=60)  # one a second, a second's worth at once
        budget.streaming = streaming
        polls = []
        for _ in range(45):  # two polls come due each second: the queue grows by one a second
            polls += [asyncio.ensure_future(budget.acquire_poll()) for _ in range(2)]
            await asyncio.sleep(1)
            if _clock() < 30:
                assert caplog.messages == []  # waits past 2 s for under half a minute: not yet
        await asyncio.gather(*polls)

    with caplog.at_level(logging.WARNING, logger="rowrelay.budget"):
        run_in_virtual_time(main)
    [said] = caplog.messages
    assert re.fullmatch(
        r"polls are waiting for the poll budget \(--poll-rpm 60/min; for 30 s now, this one \d+\.\d s\): "
        r"responses that have ended are noticed late, and their in-flight slots freed late; raise "
        r"--poll-rpm where the server allows it" + re.escape(way_out),
        said,
    ), said


def test_a_burst_of_polls_that_waits_a_few_seconds_once_is_not_said(caplog: pytest.LogCaptureFixture) -> None:
    """A resumed batch polls every row it holds at once: 200 rows on the default budget waited up to 4 s."""

    async def main() -> None:
        budget = _budget(poll_rpm=60)
        await asyncio.gather(*(budget.acquire_poll() for _ in range(20)))  # the last waits 19 s
        await asyncio.sleep(60)
        await asyncio.gather(*(budget.acquire_poll() for _ in range(20)))  # and again, a minute later

    with caplog.at_level(logging.WARNING, logger="rowrelay.budget"):
        run_in_virtual_time(main)
    assert caplog.messages == []


def test_a_row_over_a_minute_of_tokens_is_charged_the_minute_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    budget = _budget(tpm=100)  # max output 64
    with caplog.at_level(logging.WARNING, logger="rowrelay.budget"):
        assert budget.estimate(30) == 94
        assert caplog.messages == []
        assert budget.estimate(50) == 100
        assert budget.estimate(500) == 100
    assert caplog.messages == [
        "a row's estimate (114 tokens: its prompt and its max output) is over --tpm 100: each such create "
        "waits for a whole minute of the token budget"
    ]


def test_polls_have_their_own_rate_and_do_not_spend_the_create_budget() -> None:
    async def main() -> tuple[list[float], float]:
        budget = _budget(rpm=1, poll_rpm=120)
        start = _clock()
        polls = []
        for _ in range(121):
            await budget.acquire_poll()
            polls.append(_clock() - start)
        before = _clock()
        await budget.acquire_create(10)
        return polls, _clock() - before

    polls, create_wait = run_in_virtual_time(main)
    assert polls[:2] == [0.0, 0.0]  # a second's worth at once (bank.POLL_BURST_SECONDS)
    assert polls[2:] == pytest.approx([0.5 * k for k in range(1, 120)], abs=EXACT)  # then one every 0.5 s
    assert create_wait == 0.0  # a spent poll budget leaves the single create per minute untouched


def test_a_rested_poll_budget_lets_no_minute_see_much_more_than_it() -> None:
    """A run whose rows wait long between looks leaves the poll bucket full; when many rows come due at
    once, the next minute must still hold about the budget, not a full bucket and then its refill."""

    async def main() -> list[float]:
        budget = _budget(poll_rpm=6_000)
        await asyncio.sleep(600)  # long-latency rows, nobody polling: the bucket rests full
        start = _clock()
        polls = []
        while _clock() - start < 60:
            await budget.acquire_poll()
            polls.append(_clock() - start)
        return polls

    polls = run_in_virtual_time(main)
    in_the_minute = sum(1 for t in polls if t < 60)
    assert 6_000 <= in_the_minute <= 6_000 + 100  # the budget, and at most a second's worth more
    assert sum(1 for t in polls if t < 1) <= 2 * 100  # no burst of a minute's worth


async def _waits(budget: RateBudget) -> tuple[float, float]:
    """How long a poll and a create wait from now, each started now and awaited concurrently."""
    start = _clock()

    async def timed_poll() -> float:
        await budget.acquire_poll()
        return _clock() - start

    async def timed_create() -> float:
        await budget.acquire_create(100)
        return _clock() - start

    poll, create = await asyncio.gather(timed_poll(), timed_create())
    return poll, create


def test_a_429_on_a_create_pauses_creates_for_its_retry_after_but_not_polls() -> None:
    async def main() -> tuple[float, float, int]:
        budget = _budget()
        budget.on_rate_limited(7.0)
        poll, create = await _waits(budget)
        return poll, create, budget.throttled

    poll, create, throttled = run_in_virtual_time(main)
    assert poll == 0.0
    assert create == pytest.approx(7.0, abs=EXACT)
    assert throttled == 1


def test_a_429_on_a_poll_pauses_polls_but_not_creates() -> None:
    async def main() -> tuple[float, float]:
        budget = _budget()
        budget.on_rate_limited(7.0, poll=True)
        return await _waits(budget)

    poll, create = run_in_virtual_time(main)
    assert create == 0.0
    assert poll == pytest.approx(7.0, abs=EXACT)


def test_a_429_with_no_retry_after_pauses_one_second() -> None:
    async def main() -> tuple[float, float]:
        budget = _budget()
        budget.on_rate_limited(None)
        return await _waits(budget)

    poll, create = run_in_virtual_time(main)
    assert poll == 0.0
    assert create == pytest.approx(1.0, abs=EXACT)


def test_429s_naming_no_wait_back_off_doubling_until_the_server_takes_a_call() -> None:
    """A trial's 25 s storm of 429s naming no wait met a fixed second's pause: 198 429s for 20 rows."""

    async def main() -> tuple[list[float], float, float]:
        budget = _budget()
        waits = []
        for said in (None, "0", None, None, None, None, None):  # retry-after: 0 names no wait either
            before = _clock()
            await budget.acquire_create(10)  # the create sent once the last pause ended
            waits.append(_clock() - before)
            for _ in range(4):  # it and three more of its burst meet 429s: one step of the backoff
                budget.on_rate_limited(None if said is None else float(said))
        before = _clock()
        await budget.acquire_create(10)
        waits.append(_clock() - before)
        budget.on_taken(poll=False)  # the server took it: the next 429 starts over
        budget.on_rate_limited(None)
        poll_wait, create_wait = await _waits(budget)
        return waits[1:], create_wait, poll_wait

    waits, after_a_take, poll = run_in_virtual_time(main)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert after_a_take == 1.0
    assert poll == 0.0  # creates' streak: polls have their own


def test_a_poll_streak_is_its_own_and_ends_when_a_poll_is_taken() -> None:
    async def main() -> list[float]:
        budget = _budget()
        waits = []
        for take in (False, False, True, False):
            budget.on_rate_limited(None, poll=True)
            before = _clock()
            await budget.acquire_poll()
            waits.append(_clock() - before)
            budget.on_rate_limited(None)  # a create's 429 alongside: no step of the polls' backoff
            if take:
                budget.on_taken(poll=True)
        return waits

    assert run_in_virtual_time(main) == [1.0, 2.0, 4.0, 1.0]


def test_a_429_a_minute_after_a_streak_ended_starts_a_new_one() -> None:
    """Backends that say nothing of the calls the server took (Chat Completions, agents) end a streak so."""

    async def main() -> list[float]:
        budget = _budget()
        waits = []
        for quiet in (0.0, 0.0, STREAK_FORGOTTEN + 1):
            await asyncio.sleep(quiet)
            budget.on_rate_limited(None)
            before = _clock()
            await budget.acquire_create(10)
            waits.append(_clock() - before)
        return waits

    assert run_in_virtual_time(main) == [1.0, 2.0, 1.0]


def test_a_429s_own_reset_pauses_creates_when_it_names_no_wait() -> None:
    """The storm's 429s said `x-ratelimit-remaining-requests: 0` and `-reset-requests: 20s`, no limit."""

    async def main() -> float:
        budget = _budget()
        refused = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}
        budget.observe_headers(refused, tokens_needed=10)  # the backend tells the headers first
        budget.on_rate_limited(None)
        before = _clock()
        await budget.acquire_create(10)
        return _clock() - before

    assert run_in_virtual_time(main) == 20.0


def test_a_429_while_creates_wait_moves_the_gate_later_and_a_shorter_one_never_earlier() -> None:
    async def main() -> float:
        budget = _budget()
        budget.on_rate_limited(2.0)
        start = _clock()
        waiting = asyncio.create_task(budget.acquire_create(100))
        await asyncio.sleep(1.0)
        budget.on_rate_limited(3.0)  # one second in, a second 429: now 4 s from the start
        budget.on_rate_limited(0.5)  # a shorter one does not bring it back
        await waiting
        return _clock() - start

    assert run_in_virtual_time(main) == pytest.approx(4.0, abs=EXACT)


def test_a_pause_holds_the_creates_queued_and_they_leave_at_the_burst_and_rate_when_it_ends() -> None:
    """Creates queued during a pause wait for it without passing the bucket: a trial against a server
    allowing 40 creates a minute saw 189 creates reach it within 10 ms of a 45 s pause's end (184 429s),
    every one queued meanwhile having passed the bucket at --rpm while the pause held them."""

    async def main() -> list[float]:
        budget = _budget(rpm=600)  # a burst of 5, then one every 0.1 s
        start, times = _clock(), []

        async def create() -> None:
            await budget.acquire_create(10)
            times.append(_clock() - start)

        queued = [asyncio.create_task(create()) for _ in range(30)]
        await asyncio.sleep(0.25)
        budget.on_rate_limited(45.0)  # a 429 on one of those sent: creates pause until 45.25 s
        await asyncio.gather(*queued)
        return times

    times = run_in_virtual_time(main)
    before = [0.0] * 5 + [0.1, 0.2]
    after = [45.25] * 5 + [45.25 + 0.1 * k for k in range(1, 19)]
    assert times == [pytest.approx(each, abs=1e-6) for each in before + after]


def _spent(unit: str, reset: str) -> dict[str, str]:
    return {f"x-ratelimit-remaining-{unit}": "0", f"x-ratelimit-reset-{unit}": reset}


def _limited(unit: str, limit: int, remaining: int, reset: str) -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{unit}": str(limit),
        f"x-ratelimit-remaining-{unit}": str(remaining),
        f"x-ratelimit-reset-{unit}": reset,
    }


@pytest.mark.parametrize(
    ("headers", "tokens_needed", "create_wait"),
    [
        # A limit is per minute, refilled as it goes: one of 60 a minute is back in a second. Read as
        # refilling to the whole limit by the reset, 60 in 20 s, creates went three a second.
        pytest.param(_limited("requests", 60, 0, "20s"), 10, 1.0, id="spent-requests"),
        # A bucket holding a second of 6,000 a minute (the emulator's --rate-window 1: reset 1s when
        # spent): 10 ms for one, not the 0.17 ms of 6,000 refilled in a second.
        pytest.param(_limited("requests", 6000, 0, "1s"), 10, 0.01, id="a-second-of-the-limit"),
        # 300 tokens missing at 1,000 a minute: 18 s. OpenAI's reset says as much (54 s for the 900).
        pytest.param(_limited("tokens", 1000, 100, "54s"), 400, 18.0, id="tokens-short"),
        pytest.param(_limited("tokens", 1000, 500, "30s"), 400, 0.0, id="enough-left"),
        # No limit shown: nothing is back before the reset, a minute at most.
        pytest.param(_spent("requests", "20s"), 10, 20.0, id="reset-alone"),
        pytest.param(_spent("tokens", "6m0s"), 50, 60.0, id="capped-at-a-minute"),
        # Azure's remaining alone says neither the pace nor when: ignored.
        pytest.param({"x-ratelimit-remaining-requests": "0"}, 10, 0.0, id="azure-remaining-alone"),
        pytest.param(_limited("requests", -1, -1, "60s"), 10, 0.0, id="azure-negative"),
    ],
)
def test_rate_limit_headers_pause_creates_until_the_next_one_fits_but_never_polls(
    headers: dict[str, str], tokens_needed: int, create_wait: float
) -> None:
    async def main() -> tuple[float, float]:
        budget = _budget()
        budget.observe_headers(headers, tokens_needed=tokens_needed)
        return await _waits(budget)

    poll, create = run_in_virtual_time(main)
    assert poll == 0.0
    assert create == pytest.approx(create_wait, abs=EXACT)


def test_a_limit_shown_under_ours_is_the_rate_from_then_on() -> None:
    """A trial's server said "limit 60, remaining 0, reset 20s" on every create: at --rpm 500 it was sent
    60 creates in 4 s, the reset read as the time to refill all 60."""

    async def main() -> list[float]:
        budget = _budget(rpm=500)
        start, times = _clock(), []
        for _ in range(5):
            await budget.acquire_create(10)
            times.append(_clock() - start)
            budget.observe_headers(_limited("requests", 60, 0, "20s"), tokens_needed=10)
        return times

    assert run_in_virtual_time(main) == [pytest.approx(each, abs=EXACT) for each in (0, 1, 2, 3, 4)]


def test_creates_queued_behind_a_spent_limit_leave_one_at_a_time_not_in_a_burst() -> None:
    async def main() -> list[float]:
        budget = _budget(rpm=600)  # our own limit, shown by the server too: a burst of 5, 10 a second
        budget.observe_headers(_limited("requests", 600, 0, "1m0s"), tokens_needed=10)
        start, times = _clock(), []

        async def create() -> None:
            await budget.acquire_create(10)
            times.append(_clock() - start)

        await asyncio.gather(*(create() for _ in range(4)))
        return times

    # The server has room for one in 0.1 s, and for one more each 0.1 s after: the burst its bucket
    # would be spent by again, it has not.
    expected = [0.1, 0.2, 0.3, 0.4]
    assert run_in_virtual_time(main) == [pytest.approx(each, abs=EXACT) for each in expected]


def test_slots_bind_only_when_the_bucket_spills_or_holds_every_row_left() -> None:
    """A run waiting for a slot polls densely only when the create a freed slot starts would otherwise be
    lost to the rate: its bucket is full (the refill spills over), or holds enough for every row left."""

    async def main() -> None:
        budget = _budget(rpm=600)  # a bucket of 5 (half a second), refilled at 10 a second
        assert budget.slots_bind(rows_left=1000)  # full: every create not made now is lost
        for _ in range(5):
            await budget.acquire_create(1)
        assert not budget.slots_bind(rows_left=1000)  # empty: later rows will use what it refills
        assert not budget.slots_bind(rows_left=1)
        await asyncio.sleep(0.2)  # two refilled
        assert budget.slots_bind(rows_left=2)  # enough for every row left: slots bind to the end
        assert not budget.slots_bind(rows_left=3)
        await asyncio.sleep(0.3)  # refilled: full again
        assert budget.slots_bind(rows_left=1000)

    run_in_virtual_time(main)


def test_slots_bind_when_the_bucket_is_full_again_by_the_time_a_row_may_end() -> None:
    """A row asks as it starts to wait, its own create just taken from the bucket: the bucket is full
    again long before the row can end, so a slot it frees then starts a create the rate would lose."""

    async def main() -> tuple[bool, bool, bool]:
        budget = _budget(rpm=600)  # a bucket of 5, refilled at 10 a second
        await budget.acquire_create(1)  # the row's own create
        return (
            budget.slots_bind(rows_left=25),
            budget.slots_bind(rows_left=25, within=0.05),  # half a create refilled: not yet full
            budget.slots_bind(rows_left=25, within=6.0),  # when a 6 s response may end
        )

    assert run_in_virtual_time(main) == (False, False, True)


def test_what_holds_the_calls_back_is_told_with_why_and_how_long() -> None:
    async def main() -> list[tuple[Hold, ...]]:
        budget = _budget(tpm=600, output=0)  # 10 tokens a second
        told = [budget.held()]
        budget.on_rate_limited(300.0, poll=True)  # polls: a 429's retry-after
        budget.on_rate_limited(None)  # creates: a 429 naming no wait
        told.append(budget.held())
        await asyncio.sleep(1.0)
        await budget.acquire_create(600)  # a minute of tokens: the next create waits for them (till 61 s)
        waiting = asyncio.create_task(budget.acquire_create(10))
        await asyncio.sleep(0.5)
        told.append(budget.held())
        await waiting
        told.append(budget.held())
        return told

    nothing, paused, for_tokens, tokens_paid = run_in_virtual_time(main)
    assert nothing == ()
    assert paused == (Hold("creates", 1.0, "429, backing off"), Hold("polls", 300.0, "429 retry-after"))
    assert for_tokens == (
        Hold("polls", pytest.approx(298.5), "429 retry-after"),  # type: ignore[arg-type]
        Hold("tokens", pytest.approx(59.5), "--tpm"),  # type: ignore[arg-type]
    )
    assert tokens_paid == (Hold("polls", pytest.approx(239.0), "429 retry-after"),)  # type: ignore[arg-type]


def test_a_wait_for_a_rate_the_servers_limit_lowered_names_that_limit() -> None:
    async def main() -> tuple[tuple[Hold, ...], tuple[Hold, ...]]:
        budget = _budget(rpm=600)
        budget.observe_headers(_limited("requests", 6, 0, "1m0s"), tokens_needed=10)  # 6 a minute, spent
        spent = budget.held()
        await budget.acquire_create(10)  # 10 s on, one refilled
        waiting = asyncio.create_task(budget.acquire_create(10))
        await asyncio.sleep(1.0)
        told = budget.held()
        await waiting
        return spent, told

    spent, told = run_in_virtual_time(main)
    assert spent == (Hold("creates", 10.0, "x-ratelimit: requests spent"),)
    assert told == (Hold("requests", 9.0, "the server's limit, 6/min"),)
