"""The cyclic garbage collector held back while rows run: the heap that existed before the rows started
is frozen and the young generations are collected less often (`heap_frozen`, the runner's).

Apart from the runner because it is the process's, not one run's: runs that overlap in one process
share one freeze, counted here, and nothing in it knows of rows, tables or the server.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

_RUN_THRESHOLDS = (50_000, 20, 100)


@dataclass
class _HeapFreeze:
    """Whether runs of this process keep the collector off the heap, the thresholds to hand back, and
    whether the runs froze the heap themselves. Runs may overlap in one process (shards or endpoints at
    once, a notebook's runs): the first to start freezes, the last to end hands back what was there
    before the first. Each run saving and restoring for itself left the raised thresholds in place for
    good when the first to start ended first."""

    runs: int = 0
    before: tuple[int, int, int] = (0, 0, 0)
    froze: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_HEAP = _HeapFreeze()


@contextlib.contextmanager
def heap_frozen() -> Iterator[None]:
    """Keep the cyclic garbage collector off every object that existed before the rows started.

    Each row allocates enough (requests, futures, snapshots) to trigger collections, and each full one
    walked the whole process: the SDK, pandas and pyarrow loaded, the state table, some 150,000 objects.
    That was about a tenth of a run's CPU at zero latency (tests/benchmarks/bench_throughput.py). Frozen
    objects are only skipped by the collector, never freed early; unfreezing hands them back to it, so a
    cycle that became garbage meanwhile is collected after the run (the last run, when runs overlap).

    The young generations are also collected less often meanwhile (`_RUN_THRESHOLDS`): a row's futures,
    requests and snapshots are short-lived, freed by reference counting, and at Python's default of a
    collection every 700 allocations a run at zero latency still spent about 0.2 ms a row, a fifth of
    its CPU, in some 1,300 young collections per 6,000 rows (measured with `gc.callbacks`); at these
    thresholds, 0.014 ms. Cyclic garbage then waits for up to 50,000 allocations: a few megabytes.

    A heap its caller froze (`gc.freeze()` in a notebook, or a server's after its imports) is left as the
    caller froze it: the runs neither freeze more nor unfreeze. CPython has one frozen generation, so
    `gc.unfreeze()` after the run handed the caller's frozen objects back to the collector with the run's
    (the caller found its heap unfrozen), and freezing on top of the caller's could only be undone that
    way, or not at all (every run would leave the heap it met frozen for good, its cycles never
    collected). The caller's freeze already keeps the collector off what it froze; the raised thresholds
    do the rest.
    """
    with _HEAP.lock:
        if _HEAP.runs == 0:
            _HEAP.before = gc.get_threshold()
            _HEAP.froze = gc.get_freeze_count() == 0
            if _HEAP.froze:
                gc.freeze()
            gc.set_threshold(*map(max, _HEAP.before, _RUN_THRESHOLDS))
        _HEAP.runs += 1
    try:
        yield
    finally:
        with _HEAP.lock:
            _HEAP.runs -= 1
            if _HEAP.runs == 0:
                gc.set_threshold(*_HEAP.before)
                if _HEAP.froze:
                    gc.unfreeze()
