"""Admission under the rate limits: what a create or a poll takes from its buckets, and the 429 it gets
(`RateLimited`, `TooLarge`) when they cannot give it now.

The buckets themselves (limits.py) only refill and count; which buckets a request draws on, what a create
costs in tokens and when it is refused for good are OpenAI's rules, kept here apart from the emulator's
held state (service.py), which owns the buckets and passes them in with the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rowrelay.tasks.emulator.limits import Bucket, retry_after_headers
from rowrelay.tasks.emulator.token_counts import prompt_tokens


@dataclass(slots=True)
class RateLimited(Exception):
    """A request refused by a bucket; carries the OpenAI-style 429 details."""

    kind: str  # "requests" or "tokens"
    limit: int
    wait: float

    def headers(self) -> dict[str, str]:
        return retry_after_headers(self.wait)


@dataclass(slots=True)
class TooLarge(RateLimited):
    """A create whose tokens exceed the whole per-minute limit: OpenAI refuses it with a 429 that no wait
    cures ("Request too large ... The input or output tokens must be reduced"), every time it is sent."""

    requested: int = 0

    def headers(self) -> dict[str, str]:
        return {}  # no retry-after: waiting never lets it through


def token_estimate(body: dict[str, Any], default_ceiling: int) -> int:
    """What OpenAI charges a create against TPM: the prompt estimate plus the output ceiling (the
    create's own, else `default_ceiling`)."""
    ceiling = body.get("max_output_tokens") or body.get("max_tokens")
    ceiling = ceiling if isinstance(ceiling, int) else default_ceiling
    return prompt_tokens(body) + ceiling


def charge_create(requests: Bucket, tokens: Bucket, cost: int, now: float, *, forced: bool) -> None:
    """Charge a create of `cost` tokens to the request and token buckets, or raise RateLimited (taking
    nothing from either)."""
    if forced:
        raise RateLimited("requests", requests.limit, 1.0)
    wait = requests.wait_for(1, now)
    if wait > 0:
        raise RateLimited("requests", requests.limit, wait)
    if cost > tokens.limit:
        raise TooLarge("tokens", tokens.limit, 0.0, cost)
    wait = tokens.wait_for(cost, now)
    if wait > 0:
        raise RateLimited("tokens", tokens.limit, wait)
    requests.take(1, now)
    tokens.take(cost, now)


def charge_poll(polls: Bucket, now: float, *, forced: bool) -> None:
    """Charge a poll to its own request bucket, or raise RateLimited."""
    if forced:
        raise RateLimited("requests", polls.limit, 1.0)
    wait = polls.wait_for(1, now)
    if wait > 0:
        raise RateLimited("requests", polls.limit, wait)
    polls.take(1, now)
