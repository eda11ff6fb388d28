"""Shards on Dask (issue 12): what the cluster costs against the same run in one process, how closely two
workers keep one create limit between them, what one grant from the shared budget costs, and what that
means for more machines than this one has.

    .venv/bin/python -m tests.benchmarks.bench_dask [--quick] [--sizes 1000 4000] [--repeats 3]
        [--rpm 3000] [--seconds 30] [--grants 2000]

Runs are made as a user makes them: the installed `rowrelay -v run` (`-v` for the flow's count of round
trips to the scheduler; the same on both sides) on a CSV, its local Prefect server started once by a
3-row run before the measures, a fresh emulator per run on its own core, rowrelay on the other core(s)
(a LocalCluster's scheduler and worker processes inherit that).

1. Coordination cost: `--dask-workers 1` (one worker process, 2 shard threads) against no cluster (the
   shards in the CLI's own process), zero latency and every limit out of the way (`--rpm 10^7 --tpm 10^9
   --max-in-flight 1000`, polls 10^7/min). The figure is the marginal rate between the two sizes (median
   process walls), so start-up cancels; start-up is each side's intercept (wall at the small size minus
   its rows at the marginal rate): the cluster's and the Dask task's start-up is the difference. Both
   sides run 2 shards at once (the CLI's process; the worker's 2 threads); the cluster cuts the batch
   into at least 2 shards, the CLI into shards of 1,000 rows.
2. Budget accuracy: `--dask-workers 2` against the emulator enforcing R creates/min with a bucket of one
   second (`--rate-window 1`), fixed 0.5 s latency, rows for `--seconds` at R. Steady creates/s ÷ limit
   (`creates_efficiency` with a one-second bucket), 429s as a share of create requests, the worst
   whole second counted from the first create and the worst
   sliding second, each ÷ the limit (a full bucket plus a second of refill allows 2.0 in a sliding one).
   Round trips per row: the flow's log line ("shared budget ...: N round trips"), the bank's count of
   every call (grants of creates and polls, holds and releases of in-flight slots, pauses).
3. One grant: a LocalCluster of one worker process (its start-up timed too); a task on it calls
   `DaskLink.grant` in a loop, the path a shard's budget takes (the shard's loop, the worker's loop, the
   scheduler's handler, back). Median and p95 µs per round trip, the scheduler thread's CPU per grant
   (its `thread_time` across the loop: Dask's RPC handling and the bank), and `Bank.grant` alone
   (tests/benchmarks/_dask_grant.py).
4. More machines than this one: arithmetic from 1-3, its assumptions printed with it.

The load average before and after is printed: on a shared machine the walls move with it, CPU per grant
much less.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from tests.benchmarks._common import (
    ROOT,
    cores,
    creates_efficiency,
    emulator,
    median,
    server_counts,
    table,
    write,
)
from tests.benchmarks._dask_grant import one_grant
from tests.benchmarks._workload import MODEL, prompt
from tests.support.local_prefect import environment, stopped_afterwards

ROWRELAY = str(Path(sys.executable).with_name("rowrelay"))
OUT_OF_THE_WAY = ["--rpm", str(10**7), "--tpm", str(10**9), "--max-in-flight", "1000"]
ROUND_TRIPS = re.compile(r"shared budget \S+: (\d+) round trips to the scheduler")
ACCURACY_LATENCY = "fixed:0.5"


def _source(tmp: Path, rows: int) -> Path:
    path = tmp / f"prompts-{rows}.csv"
    if not path.exists():
        frame = {"id": [f"row-{i:07d}" for i in range(rows)], "prompt": [prompt(i) for i in range(rows)]}
        pd.DataFrame(frame).to_csv(path, index=False)
    return path


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(process wall seconds, stderr) of `rowrelay -v ARGS` on the non-emulator cores; raises unless 0."""
    _, others = cores()
    started = time.monotonic()
    done = subprocess.run(
        [ROWRELAY, "-v", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
        preexec_fn=lambda: os.sched_setaffinity(0, others),
    )  # fmt: skip
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"rowrelay {' '.join(args[:2])} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return took, done.stderr


def _run(
    tmp: Path, env: dict[str, str], rows: int, name: str, emu_url: str, extra: list[str]
) -> dict[str, Any]:
    where = tmp / name
    args = [
        "run", str(_source(tmp, rows)), "--id-column", "id", "--prompt-column", "prompt",
        "--base-url", emu_url, "--model", MODEL, *extra,
        "--state", str(where / "state"), "--output", str(where / "out.parquet"),
    ]  # fmt: skip
    wall, stderr = _cli(args, env)
    out = pd.read_parquet(where / "out.parquet")
    trips = ROUND_TRIPS.search(stderr)
    return {
        "process_wall_s": wall,
        "completed": int((out["rowrelay_status"] == "completed").sum()),
        "round_trips": int(trips.group(1)) if trips else None,
    }


# --- 1. coordination cost ------------------------------------------------------------------------------


def coordination(tmp: Path, env: dict[str, str], sizes: list[int], repeats: int) -> dict[str, Any]:
    sides = {"in-process": [], "dask, 1 worker": ["--dask-workers", "1"]}
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {side: {n: [] for n in sizes} for side in sides}
    for repeat in range(repeats):  # interleaved, so a change in the machine's load falls on both sides
        for rows in sizes:
            for side, extra in sides.items():
                with emulator("--seed", "11") as emu:
                    run = _run(
                        tmp, env, rows, f"c{repeat}-{rows}-{len(extra)}", emu.url, [*OUT_OF_THE_WAY, *extra]
                    )
                    run.update(server_counts(emu.stats()))
                runs[side][rows].append(run)
    small, large = min(sizes), max(sizes)
    result: dict[str, Any] = {"sizes": sizes, "repeats": repeats, "runs": runs}
    for side in sides:
        walls = {n: median([r["process_wall_s"] for r in runs[side][n]]) for n in sizes}
        grew = walls[large] - walls[small]
        rate = (large - small) / grew if grew > 0 else math.nan  # nan: noise larger than the work
        trips = [r["round_trips"] for r in runs[side][large] if r["round_trips"] is not None]
        result[side] = {
            "median_wall_s": walls,
            "marginal_rows_per_s": rate,
            "whole_rows_per_s": large / walls[large],
            "startup_s": walls[small] - small / rate,
            "grants_per_row": median(trips) / large if trips else None,
        }
    base, dask = result["in-process"], result["dask, 1 worker"]
    result["rate_ratio"] = dask["marginal_rows_per_s"] / base["marginal_rows_per_s"]
    result["startup_difference_s"] = dask["startup_s"] - base["startup_s"]
    return result


def report_coordination(r: dict[str, Any]) -> None:
    small, large = min(r["sizes"]), max(r["sizes"])
    print(
        f"\n1. coordination cost: zero latency, limits out of the way; marginal rate between {small:,} and "
        f"{large:,} rows (median of {r['repeats']} process walls each)"
    )
    lines = []
    for side in ("in-process", "dask, 1 worker"):
        s = r[side]
        walls = s["median_wall_s"]
        per_row = "" if s["grants_per_row"] is None else f"{s['grants_per_row']:.2f}"
        lines.append((side, f"{walls[small]:.1f}", f"{walls[large]:.1f}", f"{s['marginal_rows_per_s']:,.0f}",
                      f"{s['startup_s']:.1f}", per_row))  # fmt: skip
    lines.append(("dask ÷ in-process, or dask − in-process", "", "", f"{r['rate_ratio']:.2f}",
                  f"{r['startup_difference_s']:+.1f}", ""))  # fmt: skip
    header = (
        "side",
        f"wall {small:,} s",
        f"wall {large:,} s",
        "marginal rows/s",
        "start-up s",
        "round trips/row",
    )
    table(lines, header)


# --- 2. budget accuracy with 2 workers ------------------------------------------------------------------


def accuracy(tmp: Path, env: dict[str, str], rpm: int, seconds: float) -> dict[str, Any]:
    rows = max(10, round(rpm / 60 * seconds))
    options = ["--latency", ACCURACY_LATENCY, "--rpm", str(rpm), "--rate-window", "1", "--seed", "11"]
    limits = ["--rpm", str(rpm), "--tpm", str(10**9), "--max-in-flight", "1000", "--dask-workers", "2"]
    with emulator(*options) as emu:
        run = _run(tmp, env, rows, "accuracy", emu.url, limits)
        listing = emu.listing()
        counts = server_counts(emu.stats())
    created = sorted(r["created_at_precise"] for r in listing)
    limit = rpm / 60.0
    bins = Counter(int(t - created[0]) for t in created)
    whole = [bins.get(s, 0) for s in range(max(bins) + 1)]
    sliding, sliding_at = _worst_sliding_second(created)
    return {
        "rows": rows,
        "rpm": rpm,
        **run,
        **counts,
        **creates_efficiency(created, rpm, window=1.0),
        "share_429": counts["server_429"] / max(1, counts["create_requests"]),
        "worst_whole_second": max(whole),
        "worst_whole_second_ratio": max(whole) / limit,
        "seconds_over_limit": sum(1 for n in whole[:-1] if n > limit),
        "worst_sliding_second": sliding,
        "worst_sliding_second_ratio": sliding / limit,
        "worst_sliding_second_at_s": sliding_at,
        "creates_per_second": whole,
        "polls": counts["requests"] - counts["create_requests"],
        "grants_per_row": None if run["round_trips"] is None else run["round_trips"] / rows,
    }


def _worst_sliding_second(times: list[float]) -> tuple[int, float]:
    """The most creates in any one second, and when that second began (seconds from the first create)."""
    worst, at, start = 0, 0.0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        if end - start + 1 > worst:
            worst, at = end - start + 1, times[start] - times[0]
    return worst, at


def report_accuracy(r: dict[str, Any]) -> None:
    limit = r["rpm"] / 60.0
    print(
        f"\n2. one budget, 2 workers: {r['rows']:,} rows, R = {r['rpm']:,}/min enforced per second "
        f"({limit:g}/s, bucket of 1 s), latency {ACCURACY_LATENCY}"
    )
    trips = "?" if r["round_trips"] is None else f"{r['round_trips']:,}"
    per_row = "?" if r["grants_per_row"] is None else f"{r['grants_per_row']:.2f}"
    polls = f"{r['polls']:,} polls ({r['polls'] / max(1, r['completed']):.2f} a row)"
    table(
        [
            ("steady creates/s ÷ limit", f"{r['steady_ratio']:.3f}", ">= 0.95",
             f"{r['steady_window_creates']:,} creates over {r['steady_window_s']:.1f} s"),
            ("whole run: ideal ÷ actual create span", f"{r['span_ratio']:.3f}", "",
             f"{r['ideal_span_s']:.1f} s ideal, {r['span_s']:.1f} s actual"),
            ("429s (share of create requests)", f"{r['share_429']:.2%}", "<= 1%",
             f"{r['server_429']} of {r['create_requests']:,}"),
            ("worst whole second ÷ limit", f"{r['worst_whole_second_ratio']:.2f}", "",
             f"{r['worst_whole_second']} creates; {r['seconds_over_limit']} second(s) above the limit"),
            ("worst sliding second ÷ limit", f"{r['worst_sliding_second_ratio']:.2f}", "<= 2.0",
             f"{r['worst_sliding_second']} creates, from {r['worst_sliding_second_at_s']:.1f} s"),
            ("round trips per row", per_row, "", f"{trips} (the flow's log); {polls}"),
            ("rows completed", f"{r['completed']:,}", f"{r['rows']:,}", f"wall {r['process_wall_s']:.1f} s"),
        ],
        ("measure", "value", "target", "detail"),
    )  # fmt: skip


# --- 3. one grant --------------------------------------------------------------------------------------


def report_grant(g: dict[str, Any]) -> None:
    print(f"\n3. one grant: a task on a 1-worker LocalCluster calling DaskLink.grant {g['grants']:,} times")
    table(
        [
            ("round trip, median (µs)", f"{g['round_trip_median_us']:,.0f}",
             f"p95 {g['round_trip_p95_us']:,.0f}"),
            ("scheduler thread CPU per grant (µs)", f"{g['scheduler_cpu_per_grant_us']:,.0f}",
             "RPC handling + the bank, and whatever else the scheduler did meanwhile"),
            ("Bank.grant alone (µs)", f"{g['bank_alone_us']:.2f}", "the arithmetic, no Dask"),
            ("LocalCluster of 1 worker: start (s)", f"{g['cluster_start_s']:.1f}",
             f"then {g['first_task_s']:.1f} s to the first task's end (the worker imports rowrelay)"),
        ],
        ("measure", "value", "detail"),
    )  # fmt: skip


# --- 4. more machines, by arithmetic -------------------------------------------------------------------


def scale_out(c: dict[str, Any], a: dict[str, Any], g: dict[str, Any]) -> dict[str, Any]:
    dask = c["dask, 1 worker"]
    marginal = dask["marginal_rows_per_s"]
    per_worker = marginal if math.isfinite(marginal) else dask["whole_rows_per_s"]
    capacity = 1e6 / g["scheduler_cpu_per_grant_us"]
    # round trips a row costs: the larger of the full-speed run's and the rate-limited run's
    per_row = max(dask["grants_per_row"] or 0.0, a["grants_per_row"] or 0.0) or 1.0
    return {
        "per_worker_rows_per_s": per_worker,
        "per_worker_source": "marginal" if math.isfinite(marginal) else "whole run (marginal was noise)",
        "scheduler_grants_per_s": capacity,
        "grants_per_row": per_row,
        "rows_per_s_one_bank": capacity / per_row,
        "workers_one_bank": capacity / (per_row * per_worker),
        "one_shard_grants_per_s": 1e6 / g["round_trip_median_us"],
    }


def report_scale_out(s: dict[str, Any], g: dict[str, Any]) -> None:
    print("\n4. more machines than this one (arithmetic from 1-3, not measured):")
    table(
        [
            ("per-worker rows/s (item 1, dask, 1 worker)", f"{s['per_worker_rows_per_s']:,.0f}",
             f"{s['per_worker_source']}; assumed on every machine (its own cores bound it, not the bank)"),
            ("grants/s one scheduler core serves", f"{s['scheduler_grants_per_s']:,.0f}",
             f"1 ÷ {g['scheduler_cpu_per_grant_us']:,.0f} µs (item 3); the core does nothing else"),
            ("round trips per row", f"{s['grants_per_row']:.2f}", "the larger of items 1 and 2"),
            ("rows/s one bank supports", f"{s['rows_per_s_one_bank']:,.0f}",
             "grants/s ÷ round trips per row"),
            ("workers at full speed one bank supports", f"{s['workers_one_bank']:,.1f}",
             "rows/s one bank supports ÷ per-worker rows/s"),
            ("grants/s one shard can ask for", f"{s['one_shard_grants_per_s']:,.0f}",
             "1 ÷ round trip: a shard has one ask in flight per kind; a grant is at most 0.05 s of R"),
        ],
        ("figure", "value", "how"),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 4000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--grants", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="250/1,000 rows once, R = 1,200/min for 10 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.rpm, args.seconds, args.grants = [250, 1000], 1, 1200, 10.0, 500
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="bench-dask-") as name,
        stopped_afterwards(Path(name) / "home") as home,
    ):
        tmp = Path(name)
        env = {
            **environment(home, tmp / "client-prefect"),
            "OPENAI_API_KEY": "bench",
            "ROWRELAY_POLL_RPM": str(10**7),
        }
        with (
            emulator() as emu
        ):  # starts the local Prefect server: a machine's first run is bench_startup_run's
            _run(tmp, env, 3, "warm", emu.url, [])
        grant = one_grant(args.grants)
        coord = coordination(tmp, env, sorted(args.sizes), args.repeats)
        acc = accuracy(tmp, env, args.rpm, args.seconds)
    scale = scale_out(coord, acc, grant)
    print(f"\nthe machine: {os.cpu_count()} cores, load average {load_before:.2f} before the runs")
    report_coordination(coord)
    report_accuracy(acc)
    report_grant(grant)
    report_scale_out(scale, grant)
    result = {"coordination": coord, "accuracy": acc, "grant": grant, "scale_out": scale}
    write("dask", {**result, "load_before": load_before})
    return result


if __name__ == "__main__":
    main()
