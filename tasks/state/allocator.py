"""Which allocator Arrow uses in a process that holds a state table.

pyarrow's default pool on Linux is mimalloc. Opening a crashed 1,000,000-row table (`bench_scale`: read
1.6M row versions from 321 files, keep each row's last one, build the store) took a median 3.8 s with it
and 2.9 s with the system allocator (glibc), with less time in the kernel (2.3 s against 1.3 s) and a
lower peak RSS; most of the gain is in the fold (`winners`: 1.4-2.0 s against 0.7-0.9 s), which writes a
new 1M-row table just after the versions it folds were read. A plan and a close with compaction were
faster too. Nothing in rowrelay depends on the pool beyond speed.
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
