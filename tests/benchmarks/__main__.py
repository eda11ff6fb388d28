"""Run the benchmarks in sequence: `make bench`, or `.venv/bin/python -m tests.benchmarks [options]`.

    .venv/bin/python -m tests.benchmarks                    # all, full size (about 15-25 minutes)
    .venv/bin/python -m tests.benchmarks --quick            # all, scaled down (a few minutes)
    .venv/bin/python -m tests.benchmarks --only ratelimit   # one (or several: --only scale crash)

Each benchmark prints its table and writes tests/benchmarks/results/<name>.json (git-ignored),
including the machine's load average when it finished.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time

ORDER = (
    "ratelimit", "baseline", "overhead", "throughput", "scale", "crash", "state", "emulator", "startup",
    "startup_run", "inflight", "tier5", "tokens", "cli", "structured", "spend", "streamcpu", "dask", "rss",
)  # fmt: skip
QUICK_ARGS = {"emulator": ["--seconds", "2", "--runs", "1", "--held", "20000"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=ORDER, help="run only these benchmarks")
    parser.add_argument("--quick", action="store_true", help="scaled-down workloads")
    args = parser.parse_args()
    for name in args.only or ORDER:
        module = importlib.import_module(f"tests.benchmarks.bench_{name}")
        print(f"\n=== bench_{name} (load average {os.getloadavg()[0]:.2f}) ===", flush=True)
        started = time.monotonic()
        extra = QUICK_ARGS.get(name, ["--quick"]) if args.quick else []
        if name != "emulator":
            module.main(extra)
        else:  # bench_emulator parses sys.argv itself
            import sys

            sys.argv = [module.__name__, *extra]
            module.main()
        print(f"=== bench_{name} took {time.monotonic() - started:.0f} s ===", flush=True)


if __name__ == "__main__":
    main()
