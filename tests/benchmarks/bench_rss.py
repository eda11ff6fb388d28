"""A long run's memory: a one-process `run_batch`'s RSS against the rows it has done.

    .venv/bin/python -m tests.benchmarks.bench_rss [--quick] [--rows 200000] [--glibc-rule]

`rows` rows from a Parquet file (an id and three columns in the template, as a ticket triage) against the
emulator in its own process (own core, `fixed:0` latency, no limits), through the `run_batch` flow on a
real Prefect API (`prefect server start`, as bench_overhead), in a child process of its own, with
rowrelay's defaults (stream mode, shards of 1,000 rows, checkpoints, compactions) but limits out of the
way (max_in_flight 1,000). The child samples its RSS every half second and reads the rows done from the
flow's progress (`progress_sink`).

Reported: RSS once the rows are planned (the first progress report); the peak RSS up to 25%, 50%, 75%
and 100% of the rows done (compactions come and go: a sample at a mark would catch one or not); the
peak while the run closes (the last compaction, the export, which read every row at once); and the
child's VmHWM. The slope of the peaks between 25% and 100% is what each further row costs: the state
table keeps every row's answer, so it is not zero. `--glibc-rule` runs the same thing a second time
with glibc's own mmap threshold (the run's `hand_back_large_blocks` made a no-op), as every run did
before it: freed memory kept, RSS growing with the rows done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.benchmarks._common import emulator, peak_rss_mb, run_child, table, write
from tests.prefect_server import prefect_server

MARKS = (0.25, 0.5, 0.75, 1.0)
LIMITS = {"rpm": 10**7, "tpm": 10**12, "poll_rpm": 10**7, "max_in_flight": 1000}
TEMPLATE = "Triage {subject}: {body} n={n}"


def write_input(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    draws = np.random.default_rng(1)
    pd.DataFrame({
        "id": [f"r{i:07d}" for i in range(rows)],
        "subject": [f"subj {i}" for i in range(rows)],
        "body": ["body text " + str(x) for x in draws.integers(0, 10**9, rows)],
        "n": draws.integers(0, 1000, rows),
    }).to_parquet(path, index=False)  # fmt: skip


# --- the child ------------------------------------------------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _run(url: str, source: Path, state: Path, out: Path, glibc_rule: bool) -> dict[str, Any]:
    import rowrelay.tasks.run.session as session
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.processing import progress_sink
    from rowrelay.tasks.run import Progress

    if glibc_rule:
        session.hand_back_large_blocks = lambda: False  # type: ignore[attr-defined]
    done = [0, 0]  # rows done, of how many
    samples: list[tuple[int, float]] = []  # (rows done, RSS MB), every half second once rows are planned
    running = True

    def sample() -> None:
        while running:
            if done[1]:
                samples.append((done[0], _rss_mb()))
            time.sleep(0.5)

    def seen(progress: Progress) -> None:
        done[:] = progress.done, progress.total

    progress_sink.set(seen)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    result = await run_batch(
        str(source), template=TEMPLATE, id_column="id", state=str(state), output=str(out),
        backend="emulator", base_url=url, **LIMITS,
    )  # fmt: skip
    running = False
    sampler.join()
    return {
        "seconds": time.perf_counter() - started,
        "completed": result.counts.get("completed", 0),
        "samples": samples,
    }


def child(argv: list[str]) -> None:
    url, source, state, out, rule = argv[0], Path(argv[1]), Path(argv[2]), Path(argv[3]), argv[4] == "glibc"
    result = asyncio.run(_run(url, source, state, out, rule))
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))


# --- the driver -----------------------------------------------------------------------------------


def at_marks(samples: list[tuple[int, float]], rows: int) -> dict[str, float]:
    """RSS once planned (the first sample); the peak up to each mark of rows done, `100%` being every
    sample before the last row ended; then the peak while the run closed (the table's last compaction,
    the export), which comes after the rows whatever their number."""
    running = [(n, rss) for n, rss in samples if n < rows] or samples[:1]
    figures = {"planned": samples[0][1]}
    for mark in MARKS:
        figures[f"{mark:.0%}"] = max(rss for n, rss in running if n <= mark * rows)
    figures["closing"] = max((rss for n, rss in samples if n >= rows), default=float("nan"))
    return figures


def one_run(rows: int, tmp: Path, env: dict[str, str], rule: str) -> dict[str, Any]:
    source = tmp / "input.parquet"
    if not source.exists():
        write_input(source, rows)
    state, out = tmp / f"state-{rule}", tmp / f"out-{rule}.parquet"
    with emulator("--latency", "fixed:0") as emu:
        run: dict[str, Any] = run_child(
            "tests.benchmarks.bench_rss", "--child", emu.url, str(source), str(state), str(out), rule,
            env=env, timeout=3600,
        )  # fmt: skip
    samples = [(int(n), float(rss)) for n, rss in run["samples"]]
    run["rss_mb"] = marks = at_marks(samples, rows)
    run["kb_per_row_25_to_100"] = (marks["100%"] - marks["25%"]) * 1024 / (0.75 * rows)
    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return {}
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="40,000 rows")
    parser.add_argument("--glibc-rule", action="store_true", help="also run with glibc's own mmap threshold")
    args = parser.parse_args(argv)
    rows = 40_000 if args.quick else args.rows
    rules = ["held", "glibc"] if args.glibc_rule else ["held"]
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as name:
        tmp = Path(name)
        home = tmp / "prefect-home"
        home.mkdir()
        with prefect_server(home) as prefect_env:
            runs = {rule: one_run(rows, tmp, prefect_env, rule) for rule in rules}
    result = {"rows": rows, "limits": LIMITS, "template": TEMPLATE, "runs": runs}
    print(f"\nRSS against rows done: {rows:,} rows, zero latency, run_batch in one process")
    table(
        [
            (
                "threshold held (rowrelay)" if rule == "held" else "glibc's own rule (before)",
                *(f"{run['rss_mb'][key]:.0f}" for key in ("planned", "25%", "50%", "75%", "100%", "closing")),
                f"{run['peak_rss_mb']:.0f}",
                f"{run['kb_per_row_25_to_100']:.2f}",
            )
            for rule, run in runs.items()
        ],
        ("run", "planned", "peak to 25%", "50%", "75%", "100%", "closing", "VmHWM", "KB/row 25-100%"),
    )
    write("rss", result)
    return result


if __name__ == "__main__":
    main()
