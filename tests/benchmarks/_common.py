"""Shared pieces of the benchmark scripts: the emulator in its own pinned process, child processes that
report their peak RSS, quantiles, machine load, and the results file.

The emulator runs as `python -m rowrelay.tasks.emulator` pinned to the last core (`taskset`, via
sched_setaffinity), and the measured side is pinned to the other cores, so the emulator's CPU does not
steal from the pipeline's event loop. On a one-core machine both share it (said in the JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from rowrelay.tasks.state import load
from tests.benchmarks._state_table import peak_rss_mb

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "tests" / "benchmarks" / "results"

__all__ = [
    "LATENCY", "MEDIAN_LATENCY", "RESULTS_DIR", "ROOT", "Emulator", "emulator", "emulator_options", "machine",
    "measure_baseline", "measure_lean_stream", "measure_rowrelay", "peak_rss_mb", "quantile",
    "report_rate_limit", "server_counts",
    "workload_size",
    "write",
]  # fmt: skip


def cores() -> tuple[set[int], set[int]]:
    """(emulator core, cores for everything else)."""
    available = sorted(os.sched_getaffinity(0))
    emulator_core = {available[-1]}
    return emulator_core, set(available[:-1]) or emulator_core


class Emulator:
    """A running emulator process: its base URL and inspection endpoints."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process, self.url = process, url
        self.root = url.removesuffix("/v1")

    def listing(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = httpx.get(f"{self.root}/emulator/responses", timeout=120).json()["data"]
        return rows

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.root}/emulator/stats", timeout=120).json()
        return stats

    def counts(self) -> dict[str, Any]:
        """`stats` without the walk of every response held (`final_status`), whose cost grows with them:
        what a measure reads while responses pile up."""
        counts: dict[str, Any] = httpx.get(f"{self.root}/emulator/counts", timeout=120).json()
        return counts

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def emulator(*options: str) -> Iterator[Emulator]:
    """`python -m rowrelay.tasks.emulator --port 0 OPTIONS` pinned to its own core; stopped on exit."""
    core, _ = cores()
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "rowrelay.tasks.emulator", "--port", "0", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, core),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://[\d.]+:\d+/v1)", line)
    if match is None:
        process.kill()
        raise RuntimeError(f"emulator did not start: {line!r}")
    try:
        yield Emulator(process, match.group(1))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_child(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 1800, pinned: bool = True
) -> Any:
    """Run `python -m module ARGS` on the non-emulator cores (`pinned=False`: on every core, as a user's
    process runs when no emulator shares the machine); its last stdout line is JSON."""
    _, others = cores() if pinned else (set(), set(os.sched_getaffinity(0)))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        preexec_fn=lambda: os.sched_setaffinity(0, others),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.setdefault("process_wall_s", time.monotonic() - started)
    return result


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in [0, 1]); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, Python, and the load when measured."""
    emulator_core, others = cores()
    return {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "emulator_core": sorted(emulator_core),
        "runner_cores": sorted(others),
    }


def write(name: str, result: dict[str, Any]) -> Path:
    result = {**result, "machine": machine(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = RESULTS_DIR / f"{name}.json"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {os.getloadavg()[0]:.2f}; written to {path.relative_to(ROOT)}")
    return path


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    """Print a plain aligned table."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def workload_size(argv: list[str] | None, description: str) -> tuple[int, int]:
    """Rows and the create limit R per minute of the shared rate-limit workload (the issue's 5,000 at
    3,000/min; `--quick` scales down), parsed once for every benchmark that runs it."""
    parser = argparse.ArgumentParser(description=description.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="1,500 rows at R = 1,200/min")
    args = parser.parse_args(argv)
    return (1500, 1200) if args.quick else (args.rows, args.rpm)


# --- the shared rate-limit workload (bench_ratelimit, bench_baseline) -------------------------------

LATENCY = "lognormal:3,0.4"
MEDIAN_LATENCY = 3.0


def emulator_options(rpm: int, seed: int = 11, window: float = 60.0) -> list[str]:
    return ["--latency", LATENCY, "--rpm", str(rpm), "--rate-window", f"{window:g}", "--seed", str(seed)]


def _bucket(rpm: int, window: float) -> tuple[float, float]:
    """The emulator's create bucket (`--rpm`, `--rate-window`): its refill per second and its size."""
    rate = rpm / 60.0
    return rate, max(1.0, rate * window)


def creates_efficiency(create_times: list[float], rpm: int, window: float = 60.0) -> dict[str, float]:
    """Steady-state creates/min ÷ R (after the bucket's initial burst) and whole-run ideal/actual span,
    for a server bucket holding `window` seconds of R (the emulator's --rate-window)."""
    times = sorted(create_times)
    n, (rate, burst) = len(times), _bucket(rpm, window)
    first, last = times[0], times[-1]
    start = next(
        (i for i, t in enumerate(times) if i + 1 >= burst + (t - first) * rate - rate),
        None,
    )
    steady = float("nan")
    window = 0.0
    if start is not None and last > times[start]:
        window = last - times[start]
        steady = (n - 1 - start) / window * 60.0 / rpm
    ideal = max(0.0, (n - burst) / rate)
    return {
        "steady_creates_per_min": steady * rpm,
        "steady_ratio": steady,
        "steady_window_s": window,
        "steady_window_creates": n - 1 - (start or 0),
        "span_s": last - first,
        "ideal_span_s": ideal,
        "span_ratio": ideal / (last - first) if last > first else float("nan"),
    }


def recorded_in(state: Path) -> dict[str, float]:
    """Response id → the epoch second rowrelay recorded it completed, from its state table."""
    frame = load(state)
    frame = frame[frame["status"] == "completed"]
    return {rid: _epoch(at) for rid, at in zip(frame["response_id"], frame["completed_at"], strict=True)}


def lags(listing: list[dict[str, Any]], recorded: dict[str, float]) -> dict[str, float]:
    """Seconds from server completion to the client's record of it (response id → epoch second), for
    every completed response; and that lag split in two at the moment the server first told a client the
    response had ended (its terminal event written, or a poll answered with it): the server's lateness
    (a busy emulator sends late), then the client's own part."""
    done = {r["id"]: r["completed_at_precise"] for r in listing if r["completed_at_precise"] is not None}
    told = {r["id"]: r["ended_told_at_precise"] for r in listing if r["ended_told_at_precise"] is not None}
    latencies = [
        r["completed_at_precise"] - r["created_at_precise"] for r in listing if r["completed_at_precise"]
    ]
    values = [at - done[rid] for rid, at in recorded.items() if rid in done]
    late = [told[rid] - done[rid] for rid in recorded if rid in done and rid in told]
    own = [at - told[rid] for rid, at in recorded.items() if rid in done and rid in told]
    return {
        "lag_p50_s": quantile(values, 0.5),
        "lag_p95_s": quantile(values, 0.95),
        "lag_max_s": max(values, default=float("nan")),
        "server_latency_median_s": median(latencies),
        "lag_p95_over_median_latency": quantile(values, 0.95) / median(latencies),
        "server_late_p95_s": quantile(late, 0.95),
        "client_lag_p95_s": quantile(own, 0.95),
        "client_lag_p95_over_median_latency": quantile(own, 0.95) / median(latencies),
    }


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value.timestamp())


def measure_rowrelay(
    emu: Emulator,
    rows: int,
    rpm: int,
    mode: str,
    tmp: Path,
    *,
    max_in_flight: int = 1000,
    window: float = 60.0,
) -> dict[str, Any]:
    """One rowrelay run in its own process against `emu` (its bucket holding `window` seconds of `rpm`),
    and what the server saw of it."""
    state = tmp / f"state-{mode}"
    run = run_child(
        "tests.benchmarks._workload",
        "rowrelay",
        emu.url,
        str(state),
        str(rows),
        mode,
        str(rpm),
        str(max_in_flight),
    )
    return {
        **run,
        **seen_by_server(emu, rpm, window, recorded_in(state)),
        "polls_per_completed_row": run["polls"] / max(1, run["counts"].get("completed", 0)),
    }


def measure_lean_stream(
    emu: Emulator, rows: int, rpm: int, *, max_in_flight: int, window: float
) -> dict[str, Any]:
    """The lean streaming client (`_lean_stream`) in its own process against `emu`, measured from the
    server's side as `measure_rowrelay` is: what one Python core drives with nothing of rowrelay's."""
    args = (emu.url, str(rows), str(rpm), f"{window:g}", str(max_in_flight))
    run = run_child("tests.benchmarks._lean_stream", *args)
    recorded = run.pop("recorded")
    return {**run, **seen_by_server(emu, rpm, window, recorded), "polls_per_completed_row": 0.0}


def seen_by_server(emu: Emulator, rpm: int, window: float, recorded: dict[str, float]) -> dict[str, Any]:
    """What the server saw of a client's run (its bucket holding `window` seconds of `rpm`): the creates'
    rate, their 429s, and the lag to the client's records (response id → epoch second)."""
    listing = emu.listing()
    counts = server_counts(emu.stats())
    return {
        **creates_efficiency([r["created_at_precise"] for r in listing], rpm, window),
        **lags(listing, recorded),
        **counts,
        "server_429_share_of_creates": counts["server_429"] / max(1, counts["create_requests"]),
        "server_responses": len(listing),
    }


def measure_baseline(rows: int, rpm: int) -> dict[str, Any]:
    with emulator(*emulator_options(rpm)) as emu:
        run = run_child("tests.benchmarks._workload", "baseline", emu.url, str(rows), str(rpm), "1000")
        counts = server_counts(emu.stats())
        bound = limit_bound(emu.listing(), rpm, in_flight=1000)
    return {**run, **counts, "limit_bound_s": bound}


def limit_bound(responses: list[dict[str, Any]], rpm: int, in_flight: int, window: float = 60.0) -> float:
    """The shortest wall the server's limit allows for the responses it completed, in the order they
    were created: each created as soon as the server's bucket (`window` seconds of `rpm`, full at the
    start) and one of `in_flight` slots allow, each taking the time the server took for it. What no
    client could beat without knowing every latency in advance (the reference "the limit itself")."""
    done = sorted(
        (r["created_at_precise"], r["completed_at_precise"] - r["created_at_precise"])
        for r in responses
        if r["completed_at_precise"] is not None
    )
    rate, burst = _bucket(rpm, window)
    in_flight_ends: list[float] = []
    end = 0.0
    for i, (_, latency) in enumerate(done):
        start = max(0.0, (i + 1 - burst) / rate)
        if len(in_flight_ends) >= in_flight:
            start = max(start, heapq.heappop(in_flight_ends))
        heapq.heappush(in_flight_ends, start + latency)
        end = max(end, start + latency)
    return end


def server_counts(stats: dict[str, Any]) -> dict[str, int]:
    """What the server saw of a run: its API requests (not the benchmark's own /emulator calls), its
    creates, and the 429s it sent."""
    routes = stats["routes"]
    return {
        "requests": sum(n for route, n in routes.items() if not route.startswith("GET /emulator")),
        "create_requests": routes.get("POST /v1/responses", 0),
        "server_429": int(stats["status_codes"].get("429", 0)),
    }


def report_rate_limit(r: dict[str, Any], rows: int, rpm: int) -> None:
    """The rate-limit workload's table (bench_ratelimit, bench_tier5)."""
    print(f"\nrate-limit efficiency: {rows:,} rows, R = {rpm:,} creates/min, latency {LATENCY}")
    table(
        [
            (
                "steady creates/min ÷ R",
                f"{r['steady_ratio']:.3f}",
                ">= 0.97",
                f"{r['steady_window_creates']:,} creates over {r['steady_window_s']:.1f} s",
            ),
            (
                "whole run: ideal ÷ actual create span",
                f"{r['span_ratio']:.3f}",
                "",
                f"{r['ideal_span_s']:.1f} s ideal, {r['span_s']:.1f} s actual",
            ),
            (
                "429s (share of create requests)",
                f"{r['server_429_share_of_creates']:.2%}",
                "<= 1%",
                f"{r['server_429']} of {r['create_requests']:,}",
            ),
            (
                "polls per completed row",
                f"{r['polls_per_completed_row']:.2f}",
                "<= 3",
                f"{r['polls']:,} polls",
            ),
            ("lag p50 (s)", f"{r['lag_p50_s']:.3f}", "", ""),
            (
                "lag p95 (s)",
                f"{r['lag_p95_s']:.3f}",
                f"<= {0.1 * MEDIAN_LATENCY:.2f}",
                f"{r['lag_p95_over_median_latency']:.1%} of the {r['server_latency_median_s']:.2f} s median",
            ),
            ("  of it, the server's lateness p95 (s)", f"{r['server_late_p95_s']:.3f}", "", "done → told"),
            (
                "  of it, the client's own p95 (s)",
                f"{r['client_lag_p95_s']:.3f}",
                "",
                f"told → recorded: {r['client_lag_p95_over_median_latency']:.1%} of the median",
            ),
            ("wall time (s)", f"{r['wall_s']:.1f}", "", f"peak RSS {r['peak_rss_mb']:.0f} MB"),
        ],
        ("measure", "value", "target", "detail"),
    )
