"""The rate budget's pure parts, and its gate driven by a real (but tiny) event loop clock."""

from __future__ import annotations

import asyncio

import pytest

from rowrelay.tasks.llm.budget import (
    DEFAULT_OUTPUT_ESTIMATE,
    OutputEstimate,
    RateBudget,
    parse_duration,
    refill_wait,
    retry_after,
)


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
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_output_estimate_uses_ceiling_then_reconciles_with_usage() -> None:
    assert OutputEstimate(ceiling=300).value() == 300
    estimate = OutputEstimate(ceiling=None)
    assert estimate.value() == DEFAULT_OUTPUT_ESTIMATE
    for _ in range(10):
        estimate.observe(100)
    assert estimate.value() == 125  # mean plus a 25% margin


async def test_a_429_on_a_create_pauses_creates_but_not_polls() -> None:
    budget = RateBudget(
        rpm=10_000, tpm=10_000_000, poll_rpm=10_000, max_in_flight=4, output=OutputEstimate(64)
    )
    loop = asyncio.get_running_loop()
    budget.on_rate_limited(0.2)
    start = loop.time()
    await budget.acquire_poll()
    assert loop.time() - start < 0.05
    await budget.acquire_create(100)
    assert loop.time() - start >= 0.19
    assert budget.throttled == 1


async def test_a_429_on_a_poll_pauses_polls_but_not_creates() -> None:
    budget = RateBudget(
        rpm=10_000, tpm=10_000_000, poll_rpm=10_000, max_in_flight=4, output=OutputEstimate(64)
    )
    loop = asyncio.get_running_loop()
    budget.on_rate_limited(0.2, poll=True)
    start = loop.time()
    await budget.acquire_create(100)
    assert loop.time() - start < 0.05
    await budget.acquire_poll()
    assert loop.time() - start >= 0.19


async def test_exhausted_remaining_header_pauses_creates_until_one_request_refills() -> None:
    budget = RateBudget(
        rpm=10_000, tpm=10_000_000, poll_rpm=10_000, max_in_flight=4, output=OutputEstimate(64)
    )
    loop = asyncio.get_running_loop()
    # 2 requests refill in 300 ms, so the next one is there after 150 ms (not after the full reset).
    budget.observe_headers(
        {
            "x-ratelimit-limit-requests": "2",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "300ms",
        },
        tokens_needed=10,
    )
    start = loop.time()
    await budget.acquire_poll()
    assert loop.time() - start < 0.05
    await budget.acquire_create(100)
    assert 0.14 <= loop.time() - start < 0.28


def test_refill_wait_is_the_time_for_the_missing_units() -> None:
    assert refill_wait(1, 0, 3000, 60.0) == pytest.approx(0.02)
    assert refill_wait(1, 5, 3000, 60.0) == 0.0
    assert refill_wait(1000, 500, 2_000_000, 20.0) == pytest.approx(500 * 20.0 / 1_999_500)


async def test_azure_style_negative_headers_are_ignored() -> None:
    budget = RateBudget(
        rpm=10_000, tpm=10_000_000, poll_rpm=10_000, max_in_flight=4, output=OutputEstimate(64)
    )
    loop = asyncio.get_running_loop()
    budget.observe_headers(
        {
            "x-ratelimit-limit-requests": "-1",
            "x-ratelimit-remaining-requests": "-1",
            "x-ratelimit-reset-requests": "60s",
        },
        tokens_needed=10,
    )
    start = loop.time()
    await budget.acquire_poll()
    assert loop.time() - start < 0.05
