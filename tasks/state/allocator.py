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

glibc then holds what a long run frees, unless told not to (`hand_back_large_blocks`).
"""

from __future__ import annotations

import ctypes
import os
import sys

import pyarrow as pa

ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
MMAP_THRESHOLD_VARIABLE = "MALLOC_MMAP_THRESHOLD_"
"""glibc's own setting of the size from which a block is mapped apart (and unmapped when freed)."""
HANDED_BACK_FROM = 512 * 1024
"""Above the 256 KiB buffer asyncio reads every socket with (`max_size`): at glibc's first threshold,
128 KiB, each read was an mmap and a munmap, and a 100,000-row run spent 7.0-7.8 s in the kernel against
3.2-4.3 s; at 512 KiB, 4.2 s, its memory still flat."""
_M_MMAP_THRESHOLD = -3  # malloc.h


def prefer_system_allocator() -> None:
    """Make the system allocator Arrow's default pool in this process, unless the user chose one through
    ARROW_DEFAULT_MEMORY_POOL (Arrow's own setting, which then wins as it always does)."""
    if not os.environ.get(ARROW_POOL_VARIABLE):
        pa.set_memory_pool(pa.system_memory_pool())


def hand_back_large_blocks() -> bool:
    """Have glibc give each freed block of `HANDED_BACK_FROM` bytes or more back to the system at once,
    for the rest of the process; returns whether it did (not on another C library, nor when the user set
    MALLOC_MMAP_THRESHOLD_, which then holds).

    glibc maps a big block apart and unmaps it when freed, but from the first such free on it raises that
    size to the block's (up to 32 MiB), and serves later blocks of that size from its heaps, which keep
    what is freed. A compaction builds the state table's columns anew, a little longer each time as rows
    end, so the old ones left holes the next ones did not fit: a 100,000-row run at zero latency grew
    from 326 to 605 MB (2.6 KB a row; its `rowrelay run`, 3.6 KB), while what glibc held free went from 9
    to 251 MB and the Python objects alive barely moved (tracemalloc: +5 MB between 8,000 and 28,000
    rows done). With the threshold held, the same run stayed at 360-460 MB, 0.6 KB a row past its
    first 20,000 rows (the table keeps each row's answer).

    Called as a run's session opens, after the table's load: the resume reuses, for the table it builds,
    the heap freed by the files it read (the pages were already touched; the module docstring).
    """
    if not sys.platform.startswith("linux") or os.environ.get(MMAP_THRESHOLD_VARIABLE):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's C library: glibc, or musl (which ignores it)
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, HANDED_BACK_FROM))
