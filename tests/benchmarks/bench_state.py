"""Benchmark of the state table: checkpoint cost vs table size, load time and memory, add_pending.

    .venv/bin/python -m tests.benchmarks.bench_state [--quick]

Prints a table and writes tests/benchmarks/results/state.json. Loads are measured in a fresh subprocess
(peak RSS from `/proc/self/status` VmHWM, including the interpreter, pyarrow and pandas; the imports
themselves are done before the clock starts).
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rowrelay.tasks.state import StateTable, load

RESULTS = Path(__file__).parent / "results" / "state.json"
CHANGED = 1000
REPEATS = 7


def _rows(n: int) -> list[tuple[str, int, str]]:
    return [(f"row-{i:08d}", i, f"{i:064x}") for i in range(n)]


def _build(directory: Path, n: int) -> float:
    """A compacted n-row table; returns the add_pending time."""
    rows = _rows(n)
    with StateTable.open(directory, batch_id=directory.name) as table:
        start = time.perf_counter()
        table.add_pending(rows)
        return time.perf_counter() - start


def _checkpoints(directory: Path, n: int) -> dict[str, float]:
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
                    table.transition(key, status, **fields)  # type: ignore[arg-type]
                changes.append(time.perf_counter() - start)
                start = time.perf_counter()
                written = table.flush()
                flushes.append(time.perf_counter() - start)
                assert written == CHANGED
        start = time.perf_counter()
        table.close()
        compaction = time.perf_counter() - start
    return {
        "flush_1000_median_s": statistics.median(flushes),
        "transitions_1000_median_s": statistics.median(changes),
        "close_with_compaction_s": compaction,
    }


def _add_segments(directory: Path, count: int) -> None:
    """Leave `count` uncompacted 1,000-row segments behind (as a crashed runner would)."""
    table = StateTable.open(directory, checkpoint_interval=3600)
    keys = table.keys_with_status(["pending"])[: count * CHANGED // 2]
    for i in range(count):
        status = "submitting" if i % 2 == 0 else "queued"
        for key in keys[(i // 2) * CHANGED : (i // 2 + 1) * CHANGED]:
            table.transition(key, status, **({"response_id": "r"} if status == "queued" else {}))  # type: ignore[arg-type]
        table.flush()
    table.lease.release()


def _measure_in_child(what: str, directory: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_state", "--child", what, str(directory)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def _peak_rss_mb() -> float:
    """This process's peak RSS. `VmHWM` starts afresh at exec; `ru_maxrss` would inherit the parent's
    peak across fork on Linux, so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(what: str, directory: Path) -> None:
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
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        _child(argv[1], Path(argv[2]))
        return
    sizes = [10_000, 100_000] if "--quick" in argv else [10_000, 100_000, 1_000_000]
    results: dict[str, Any] = {"changed_rows": CHANGED, "repeats": REPEATS, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        for n in sizes:
            directory = Path(tmp) / f"t{n}"
            entry: dict[str, Any] = {"add_pending_s": _build(directory, n)}
            entry.update(_checkpoints(directory, n))
            entry["open"] = _measure_in_child("open", directory)
            entry["load_dataframe"] = _measure_in_child("load", directory)
            _add_segments(directory, 60)
            entry["open_with_60_segments"] = _measure_in_child("open", directory)
            results["sizes"][str(n)] = entry
            print(f"done {n:,} rows", file=sys.stderr)
    _print(results)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {RESULTS}")


def _print(results: dict[str, Any]) -> None:
    header = ("rows", "add_pending", "1k changes", "flush 1k", "close+compact", "open", "open RSS",
              "load() df", "load RSS", "open +60 seg")  # fmt: skip
    print(" | ".join(f"{h:>13}" for h in header))
    for n, e in results["sizes"].items():
        cells = [
            f"{int(n):,}",
            f"{e['add_pending_s']:.3f} s",
            f"{e['transitions_1000_median_s'] * 1000:.1f} ms",
            f"{e['flush_1000_median_s'] * 1000:.1f} ms",
            f"{e['close_with_compaction_s']:.3f} s",
            f"{e['open']['seconds']:.3f} s",
            f"{e['open']['peak_rss_mb']:.0f} MB",
            f"{e['load_dataframe']['seconds']:.3f} s",
            f"{e['load_dataframe']['peak_rss_mb']:.0f} MB",
            f"{e['open_with_60_segments']['seconds']:.3f} s",
        ]
        print(" | ".join(f"{c:>13}" for c in cells))


if __name__ == "__main__":
    main(sys.argv[1:])
