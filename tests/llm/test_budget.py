"""The rate budget's pure parts, and its gate driven by a real (but tiny) event loop clock."""

from __future__ import annotations

import asyncio

import pytest

from tasks.llm.budget import (
    DEFAULT_OUTPUT_ESTIMATE,
    OutputEstimate,
    RateBudget,
    parse_duration,
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


async def test_a_429_closes_the_gate_for_creates_and_polls() -> None:
    budget = RateBudget(
        rpm=10_000, tpm=10_000_000, poll_rpm=10_000, max_in_flight=4, output=OutputEstimate(64)
    )
    loop = asyncio.get_running_loop()
    budget.on_rate_limited(0.2)
    start = loop.time()
    await budget.acquire_create(100)
    assert loop.time() - start >= 0.19
    assert budget.throttled == 1


async def test_exhausted_remaining_header_pauses_until_reset() -> None:
    budget = RateBudget(
        rpm=10_000, tpm=10_000_000, poll_rpm=10_000, max_in_flight=4, output=OutputEstimate(64)
    )
    loop = asyncio.get_running_loop()
    budget.observe_headers(
        {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "150ms",
        },
        tokens_needed=10,
    )
    start = loop.time()
    await budget.acquire_poll()
    assert loop.time() - start >= 0.14


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
