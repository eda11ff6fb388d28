"""Benchmark of the cost cap on the create path: what `--max-cost` adds to a run's CPU per row.

    .venv/bin/python -m tests.benchmarks.bench_spend [--rows N] [--runs K] [--quick]

Two measurements, each against a reference taken in the same run:
- the check alone: `Spend.admit` + `release` per row (a cap set, far from reached), against a dict set
  and pop (the least any per-row bookkeeping costs), best of five;
- whole runs: the runner over N rows (zero latency, no limits, poll mode, checkpoints on) against an
  emulator in its own process pinned to its own core, alternately without a cap (the reference) and
  with a cap it never reaches, K times each; CPU seconds of the runner's process per row (its
  `time.process_time`, which the machine's load moves far less than wall time), medians.
Prints a table and writes tests/benchmarks/results/spend.json.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable
from tests.benchmarks._common import emulator, median, table, write


def check_alone(rows: int = 1000) -> dict[str, float]:
    """Microseconds per row of the cap's check and release, and of the dict reference."""
    spend = Spend.open(Settings(backend="emulator", base_url="http://127.0.0.1:1/v1", max_cost=1e9))
    keys = [f"row-{i:06d}" for i in range(rows)]
    held: dict[str, float] = {}

    def cap() -> None:
        for key in keys:
            spend.admit(key, 90, 1024)
            spend.release(key)

    def reference() -> None:
        for key in keys:
            held[key] = 1.0
            held.pop(key)

    return {
        name: min(timeit.repeat(body, number=20, repeat=5)) / 20 / rows * 1e6
        for name, body in (("admit_release_us", cap), ("dict_set_pop_us", reference))
    }


async def one_run(url: str, directory: Path, rows: int, max_cost: float | None) -> float:
    """CPU seconds of this process per row for one whole run over a fresh table."""
    settings = Settings(
        backend="emulator", base_url=url, model="gpt-4.1-mini", rpm=10_000_000, tpm=2_000_000_000,
        poll_rpm=10_000_000, max_in_flight=500, max_cost=max_cost,
    )  # fmt: skip
    table = StateTable.open(directory, batch_id="bench-spend")
    table.add_pending((f"row-{i:06d}", i, f"h{i}") for i in range(rows))
    session = open_session(settings, table, lambda key: f"Summarise ticket {key}.")
    started = time.process_time()
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    assert report.counts == {"completed": rows}, report.counts
    return (time.process_time() - started) / rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows, runs = (500, 1) if args.quick else (args.rows, args.runs)
    alone = check_alone()
    per_row: dict[str, list[float]] = {"no cap (reference)": [], "cap never reached": []}
    with emulator("--latency", "fixed:0") as emu, tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            for name, cap in (("no cap (reference)", None), ("cap never reached", 1e9)):
                directory = Path(tmp) / f"{run}-{cap}"
                per_row[name].append(asyncio.run(one_run(emu.url, directory, rows, cap)))
    reference = median(per_row["no cap (reference)"])
    result: dict[str, Any] = {
        "rows": rows, "runs": runs, **alone,
        "cpu_ms_per_row": {name: [round(v * 1e3, 4) for v in values] for name, values in per_row.items()},
        "ratio": median(per_row["cap never reached"]) / reference,
    }  # fmt: skip
    table(
        [
            ["Spend.admit + release", f"{alone['admit_release_us']:.2f} µs", ""],
            ["dict set + pop (reference)", f"{alone['dict_set_pop_us']:.2f} µs", ""],
            *[
                [f"whole run, {name}", f"{median(values) * 1e3:.3f} ms", f"{median(values) / reference:.3f}"]
                for name, values in per_row.items()
            ],
        ],
        ["per row", "CPU", "× reference"],
    )
    write("spend", result)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
