"""The state-table measurements bench_state and bench_scale share, and the fresh-process child that
times a load (`python -m tests.benchmarks._state_table open|load DIR`).

Kept apart from _common so the child imports only what a load needs: its peak RSS (VmHWM) is the
figure reported, and it includes everything imported.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rowrelay.tasks.state import StateTable, load

CHANGED = 1000
REPEATS = 7


def planned_rows(n: int) -> list[tuple[str, int, str]]:
    return [(f"row-{i:08d}", i, f"{i:064x}") for i in range(n)]


def build(directory: Path, n: int) -> float:
    """A compacted n-row table; returns the add_pending time."""
    rows = planned_rows(n)
    with StateTable.open(directory, batch_id=directory.name) as table:
        start = time.perf_counter()
        table.add_pending(rows)
        return time.perf_counter() - start


def checkpoints(directory: Path, n: int) -> dict[str, float]:
    """Median time to flush 1,000 changed rows (and to make the changes), on an n-row table."""
    rng = random.Random(n)
    flushes: list[float] = []
    changes: list[float] = []
    with StateTable.open(directory, checkpoint_interval=3600) as table:
        pending = table.keys_with_status(["pending"])
        rng.shuffle(pending)
        for r in range(REPEATS):
            keys = pending[r * CHANGED : (r + 1) * CHANGED]
            for status in ("submitting", "queued"):  # a write-ahead checkpoint, then the response ids
                start = time.perf_counter()
                for key in keys:
                    fields = {"response_id": f"resp_{key}"} if status == "queued" else {}
                    table.transition(key, status, **fields)
                changes.append(time.perf_counter() - start)
                start = time.perf_counter()
                written = table.flush()
                flushes.append(time.perf_counter() - start)
                assert written == CHANGED
        start = time.perf_counter()
        table.flush(compact=True)  # at 1M rows 14,000 changes are under the share a close compacts at
        table.close()
        compaction = time.perf_counter() - start
    return {
        "flush_1000_median_s": statistics.median(flushes),
        "transitions_1000_median_s": statistics.median(changes),
        "close_with_compaction_s": compaction,
    }


def add_segments(directory: Path, count: int) -> None:
    """Leave `count` uncompacted 1,000-row segments behind (as a crashed runner would)."""
    table = StateTable.open(directory, checkpoint_interval=3600)
    keys = table.keys_with_status(["pending"])[: count * CHANGED // 2]
    for i in range(count):
        status = "submitting" if i % 2 == 0 else "queued"
        for key in keys[(i // 2) * CHANGED : (i // 2 + 1) * CHANGED]:
            table.transition(key, status, **({"response_id": "r"} if status == "queued" else {}))  # type: ignore[arg-type]
        table.flush()
    table.lease.release()


def measure_in_child(what: str, directory: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks._state_table", what, str(directory)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def peak_rss_mb() -> float:
    """This process's peak RSS. `VmHWM` starts afresh at exec; `ru_maxrss` would inherit the parent's
    peak across fork on Linux, so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(what: str, directory: Path) -> None:
    import pandas  # noqa: F401  (pyarrow imports it lazily on first use: keep imports out of the timing)

    start = time.perf_counter()
    if what == "open":
        table = StateTable.open(directory, orphan_policy="hold", writer="bench-reader")
        rows = len(table)
        seconds = time.perf_counter() - start
        table.lease.release()
    else:
        rows = len(load(directory))
        seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]))
