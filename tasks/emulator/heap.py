"""The emulator process's garbage collector while it serves: young collections only, and counted.

A stream in flight holds about a hundred small objects (its task, coroutines, closures, request and
timeline) for as long as its response runs. At Python's default thresholds they live long enough to be
promoted to the oldest generation, and the full collections that promotion sets off walked every stream
in flight: at 500 new streams a second (tests/benchmarks/bench_tier5.py) nine to twelve full collections
in a 10,000-row run, most of them 150-300 ms, with the whole server stopped meanwhile. That stall, on a
server near its core's limit, is what made its responses reach clients late: a p95 of 0.15-0.25 s past
their scheduled end. Collected less often, a stream has ended before it could be promoted: the same runs
made no full collection, and the share of the server's CPU spent collecting fell from 20-24% to about 5%
(measured with `gc.callbacks`).

The emulator's own objects form almost no cycles (about one collected object per response), so the
garbage that waits for a rarer collection is a few megabytes at most. Only a process of its own is tuned:
an emulator in a test's or a notebook's thread leaves its host's collector alone.
"""

from __future__ import annotations

import gc
import time
from typing import Any

_SERVING_THRESHOLDS = (50_000, 20, 100)
"""Collect the youngest generation after 50,000 net allocations (Python's default is 700), the next after
20 of those, the oldest after 100 of those (and, as always, only once it has grown by a quarter)."""


class Collections:
    """How often the collector ran since serving began, by generation, and its longest stop."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.longest = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        self.counts[info["generation"]] += 1
        self.longest = max(self.longest, time.perf_counter() - self._began)

    def report(self) -> dict[str, Any]:
        return {"collections": list(self.counts), "longest_pause_s": round(self.longest, 6)}


def tuned_for_serving() -> Collections:
    """Freeze what start-up made (imports, the app) out of every collection, raise the thresholds, and
    count the collections from here on. For the server's own process only. No collection first: at this
    point one took 8 ms of the server's start for 5 objects, which stay frozen instead."""
    gc.freeze()
    gc.set_threshold(*map(max, gc.get_threshold(), _SERVING_THRESHOLDS))
    counted = Collections()
    gc.callbacks.append(counted)
    return counted
