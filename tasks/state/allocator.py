"""Which allocator Arrow uses in a process that holds a state table.

pyarrow's default pool on Linux is mimalloc. Opening a crashed 1,000,000-row table (read 1.6M row
versions from 322 files, keep each row's last one, build the store, then `send_order`) took a median
3.89 s with it and 2.65 s with the system allocator (glibc), ten alternated runs each, with about half
the time in the kernel (2.3 s against 1.3 s). Most of the gain is in the fold (`winners`: 1.3-2.0 s
against 0.7-0.9 s), which writes a new 1M-row table just after the versions it folds were read: the
time went on touching fresh pages. Every other step of `bench_scale` (plan, re-plan, close with
compaction) was as fast or faster, and no step's peak RSS rose by more than 25 MB (the resume on both
cores: 801-853 MB against 830; the plan: 855-867 against 918). A runner holding 100,000 rows in flight
peaked at 717-719 MB against 676 MB (`bench_inflight`, one run with mimalloc). Nothing in rowrelay
depends on the pool beyond speed and memory.
"""

from __future__ import annotations

import os

import pyarrow as pa

ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def prefer_system_allocator() -> None:
    """Make the system allocator Arrow's default pool in this process, unless the user chose one through
    ARROW_DEFAULT_MEMORY_POOL (Arrow's own setting, which then wins as it always does)."""
    if not os.environ.get(ARROW_POOL_VARIABLE):
        pa.set_memory_pool(pa.system_memory_pool())
