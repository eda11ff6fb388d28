"""One rate budget for many processes: the bank every worker of a distributed run draws its creates,
tokens, polls and in-flight slots from (it lives on the Dask scheduler: `rowrelay.tasks.cluster`).

Rates are kept by GCRA (the generic cell rate algorithm, a token bucket written as one "theoretical
arrival time" per bucket): a grant of `count` units is due at the earliest moment every bucket it draws
on allows (when its last unit conforms: `tat + (count - 1) * interval - tolerance`, or now), and moves
that bucket's `tat` on by `count` emission intervals.
The answer is a delay, not a permit to wait for here: the bank never sleeps, so one grant costs the
scheduler a few microseconds and the worker one round trip, and a worker asks once for all the creates
it has waiting (up to `CHUNK_SECONDS` of the rate), not once per create. The tolerance is the burst the
batch may send at once: half a second of creates and of tokens, as a single process starts with
(`pacing.py`), and a second of polls.

A worker that meets a 429 or an exhausted `x-ratelimit-*` header reports a pause: every later grant of
that kind, to any worker, waits it out. In-flight slots are held by name (`holder`, one shard on one
worker) and given back when it ends, or all at once when its worker is gone (`forget`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["creates", "polls"]
CREATE_BURST_SECONDS = 0.5
"""Creates (and their tokens) allowed at once, in seconds of the rate: servers enforce a minute's limit
over shorter windows (pacing.py), so neither bursts a minute's worth."""
POLL_BURST_SECONDS = 1.0
"""Polls allowed at once, in seconds of their rate. A minute's worth at once would let any minute see
nearly twice the budget (a full bucket, then its refill); with a second's, no minute sees more than the
budget and a second's worth (or one poll, under 60 a minute). Polls that come due together wait their
turn instead, at the budget's rate."""
CHUNK_SECONDS = 0.05
"""Most a worker asks for at once, in seconds of the rate: a bigger chunk saves round trips, but what a
worker holds and has not sent yet is rate another worker could have used."""


@dataclass(frozen=True)
class Limits:
    """One endpoint's limits, for the whole batch whatever the number of workers."""

    rpm: int
    tpm: int
    poll_rpm: int
    max_in_flight: int

    def chunk(self, kind: Kind) -> int:
        per_minute = self.rpm if kind == "creates" else self.poll_rpm
        return max(1, math.floor(per_minute / 60.0 * CHUNK_SECONDS))

    def token_chunk(self) -> int:
        """Most tokens a worker asks for at once (a create larger than this is asked for alone)."""
        return max(1, math.floor(self.tpm / 60.0 * CHUNK_SECONDS))

    def slot_chunk(self) -> int:
        """In-flight slots a shard holds at a time: a create chunk, and never more than a twentieth of
        the cap, so that idle slots held by shards cannot starve another of the cap."""
        return max(1, min(self.chunk("creates"), self.max_in_flight // 20))


@dataclass
class _Cell:
    """One GCRA bucket: `per_minute` units a minute, bursts of `burst_seconds` of it."""

    per_minute: int
    burst_seconds: float
    tat: float = -math.inf

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute

    @property
    def tolerance(self) -> float:
        return max(self.interval, self.burst_seconds)

    def earliest(self, now: float, units: float) -> float:
        """When `units` fit: the last of them must conform, so a grant bigger than the burst waits for
        its excess to drain first, not only for the bucket to have room for one (a grant larger than
        the whole bucket waits for a full one, as aiolimiter does)."""
        if units <= 0:
            return now
        excess = min((units - 1) * self.interval, self.tolerance)
        return max(now, max(self.tat, now) + excess - self.tolerance)

    def take(self, at: float, units: float) -> None:
        self.tat = max(self.tat, at) + units * self.interval


@dataclass
class _Endpoint:
    limits: Limits
    creates: _Cell = field(init=False)
    tokens: _Cell = field(init=False)
    polls: _Cell = field(init=False)
    paused: dict[str, float] = field(default_factory=lambda: {"creates": -math.inf, "polls": -math.inf})
    held: dict[str, int] = field(default_factory=dict)
    granted: dict[str, int] = field(default_factory=lambda: {"creates": 0, "polls": 0})
    """Units of each kind granted so far, to every worker: what the run's summary of the budget says."""

    def __post_init__(self) -> None:
        self.creates = _Cell(self.limits.rpm, CREATE_BURST_SECONDS)
        self.tokens = _Cell(self.limits.tpm, CREATE_BURST_SECONDS)
        self.polls = _Cell(self.limits.poll_rpm, POLL_BURST_SECONDS)

    @property
    def in_flight(self) -> int:
        return sum(self.held.values())


class Bank:
    """The budgets of one batch run, by endpoint name. Not thread-safe: the scheduler's loop owns it."""

    def __init__(self, limits: Mapping[str, Limits], clock: Callable[[], float]) -> None:
        self._endpoints = {name: _Endpoint(each) for name, each in limits.items()}
        self._clock = clock
        self.calls = 0
        """Requests answered (grants, pauses, holds, releases): what the coordination cost, in round trips."""

    def _endpoint(self, name: str) -> _Endpoint:
        try:
            return self._endpoints[name]
        except KeyError:
            raise KeyError(f"no budget for endpoint {name!r}") from None

    def grant(self, endpoint: str, kind: Kind, count: int, tokens: int = 0) -> float:
        """Seconds until `count` units of `kind` (and, for creates, `tokens` tokens) may be sent; they
        are reserved from now, so the caller waits that long and sends them."""
        state, now = self._endpoint(endpoint), self._clock()
        self.calls += 1
        if kind == "creates":
            cells = [(state.creates, count), (state.tokens, min(tokens, state.limits.tpm))]
        else:
            cells = [(state.polls, count)]
        due = max(state.paused[kind], *(cell.earliest(now, units) for cell, units in cells))
        for cell, units in cells:
            cell.take(due, units)
        state.granted[kind] += count
        return due - now

    def pause(self, endpoint: str, kind: Kind, seconds: float) -> None:
        """Hold every worker's `kind` for `seconds` from now (a 429 or exhausted header seen by one)."""
        self.calls += 1
        state = self._endpoint(endpoint)
        state.paused[kind] = max(state.paused[kind], self._clock() + max(0.0, seconds))

    def hold(self, endpoint: str, holder: str, count: int) -> int:
        """Reserve up to `count` in-flight slots for `holder`; returns how many it got (maybe 0)."""
        self.calls += 1
        state = self._endpoint(endpoint)
        got = max(0, min(count, state.limits.max_in_flight - state.in_flight))
        if got:
            state.held[holder] = state.held.get(holder, 0) + got
        return got

    def release(self, endpoint: str, holder: str, count: int) -> None:
        self.calls += 1
        state = self._endpoint(endpoint)
        left = state.held.get(holder, 0) - count
        if left > 0:
            state.held[holder] = left
        else:
            state.held.pop(holder, None)

    def forget(self, holder_prefix: str) -> int:
        """Give back every slot held by holders whose name starts with `holder_prefix` (a dead worker's
        address); returns how many."""
        freed = 0
        for state in self._endpoints.values():
            for holder in [name for name in state.held if name.startswith(holder_prefix)]:
                freed += state.held.pop(holder)
        return freed

    def in_flight(self, endpoint: str) -> int:
        return self._endpoint(endpoint).in_flight

    def granted(self) -> dict[str, dict[str, int]]:
        """Units of each kind granted so far, and the rates they were granted at, by endpoint name."""
        return {
            name: {**state.granted, "rpm": state.limits.rpm, "poll_rpm": state.limits.poll_rpm}
            for name, state in self._endpoints.items()
        }
