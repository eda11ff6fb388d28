"""Benchmark of the command line's start-up: `rowrelay --help`, `status` and `export` on a finished batch.

    .venv/bin/python -m tests.benchmarks.bench_startup [--runs N] [--rows R] [--quick]

Each command runs N times as a user runs it (the venv's `rowrelay` script, a fresh process each time),
interleaved with the reference, `python -c pass` (the interpreter's own start-up, same interpreter, same
moment), so a change in the machine's load falls on all of them alike. Reported: median and min wall
time, the median over the reference, and the median CPU time (user + system, which the load moves far
less than the wall time). The batch (R rows, 200 by default) is run first against an
in-process emulator through the runner (tests/support/finished_batch.py), so the table, its `run.json`
and its input are what a run leaves. The target (issue 11) is a median of at most 1 s for each command.
Prints a table and writes tests/benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.benchmarks._common import ROOT, median, table, write
from tests.support.finished_batch import finished_batch

TARGET_S = 1.0
"""Each command's median wall time must be at most this (issue 11)."""


def commands(state: Path, output: Path) -> dict[str, list[str]]:
    rowrelay = str(Path(sys.executable).parent / "rowrelay")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "rowrelay --help": [rowrelay, "--help"],
        "rowrelay status STATE": [rowrelay, "status", str(state)],
        "rowrelay export STATE --output OUT.csv": [rowrelay, "export", str(state), "--output", str(output)],
    }


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds from start to exit, CPU seconds user + system) of `command`, which must succeed.

    The CPU time depends far less on what else the shared machine is doing than the wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument("--rows", type=int, default=200, help="rows of the finished batch (default 200)")
    parser.add_argument("--quick", action="store_true", help="5 runs of each")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else args.runs
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        with running_emulator(EmulatorConfig()) as emu:
            state = finished_batch(emu, Path(tmp), args.rows)
        measured = commands(state, Path(tmp) / "out.csv")
        for command in measured.values():  # warm: bytecode written, files in the page cache
            timed(command)
        times: dict[str, list[float]] = {name: [] for name in measured}
        cpu: dict[str, list[float]] = {name: [] for name in measured}
        for _ in range(runs):
            for name, command in measured.items():
                elapsed, used = timed(command)
                times[name].append(elapsed)
                cpu[name].append(used)
    reference = median(times["python -c pass"])
    results: dict[str, Any] = {
        "runs": runs,
        "rows": args.rows,
        "target_s": TARGET_S,
        "loadavg_before": round(load_before, 2),
        "commands": {
            name: {
                "median_s": median(values),
                "min_s": min(values),
                "max_s": max(values),
                "over_python_s": median(values) - reference,
                "cpu_median_s": median(cpu[name]),
                "times_s": values,
                "cpu_s": cpu[name],
            }
            for name, values in times.items()
        },
    }
    rows = [
        [
            name,
            f"{entry['median_s']:.3f}",
            f"{entry['min_s']:.3f}",
            f"{entry['over_python_s']:+.3f}",
            f"{entry['cpu_median_s']:.3f}",
            "" if name == "python -c pass" else ("yes" if entry["median_s"] <= TARGET_S else "NO"),
        ]
        for name, entry in results["commands"].items()
    ]
    print(f"{runs} runs each, interleaved; a finished {args.rows}-row batch; load average {load_before:.2f}")
    header = ["command", "median s", "min s", "median over python", "CPU median s", f"<= {TARGET_S:.0f} s"]
    table(rows, header)
    write("startup", results)


if __name__ == "__main__":
    main(sys.argv[1:])
