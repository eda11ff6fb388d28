"""Benchmark of the state table: checkpoint cost vs table size, load time and memory, add_pending.

    .venv/bin/python -m tests.benchmarks.bench_state [--quick]

Prints a table and writes tests/benchmarks/results/state.json. Loads are measured in a fresh subprocess
(peak RSS from `/proc/self/status` VmHWM, including the interpreter, pyarrow and pandas; the imports
themselves are done before the clock starts).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks._state_table import CHANGED, REPEATS, add_segments, build, checkpoints, measure_in_child

RESULTS = Path(__file__).parent / "results" / "state.json"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 rows only")
    sizes = [10_000, 100_000] if parser.parse_args(argv).quick else [10_000, 100_000, 1_000_000]
    results: dict[str, Any] = {"changed_rows": CHANGED, "repeats": REPEATS, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        for n in sizes:
            directory = Path(tmp) / f"t{n}"
            entry: dict[str, Any] = {"add_pending_s": build(directory, n)}
            entry.update(checkpoints(directory, n))
            entry["open"] = measure_in_child("open", directory)
            entry["load_dataframe"] = measure_in_child("load", directory)
            add_segments(directory, 60)
            entry["open_with_60_segments"] = measure_in_child("open", directory)
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
