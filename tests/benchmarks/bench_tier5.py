"""A top-tier rate limit, time-compressed: OpenAI's tier 5 at 30,000 creates/min, enforced per second.

    .venv/bin/python -m tests.benchmarks.bench_tier5 [--quick] [--rows N] [--modes poll stream] [--repeat N]

10,000 rows against the emulator (own process, own core) enforcing R = 30,000 creates/min in a bucket
that holds one second of it (500 creates: OpenAI's "60,000 requests/minute may be enforced as 1,000
requests/second"), lognormal latency (median 3 s, sigma 0.4). rowrelay runs in its own process with
rpm = R, a poll budget out of the way and max_in_flight = 5,000 (Little's law: 500/s × a tail near 8 s;
the default 1,000 would cap the run at about 300 rows/s whatever the limit), once per wait mode.

In stream mode a lean client runs too, each side against its own fresh emulator, alternated
(`--repeat` times): one asyncio process of raw aiohttp and orjson reading the same streams under the same
bucket, nothing of rowrelay's (`_lean_stream.py`). It is the reference for what this machine can do: the
emulator streaming 500 new responses a second holds its own core, so the limit itself may be out of any
one client's reach here; the ratio of rowrelay's rate to the lean client's says what rowrelay costs.

Measured from the server's side, as bench_ratelimit does (see there): creates over the whole run ÷ what
the limit allows (the ideal span of the creates, (N − 500)/500 s, ÷ their actual span), the steady rate
÷ R, 429s as a share of creates, polls per row, and the lag from a response completing on the server to
rowrelay recording it. The issue's targets: ≥ 0.97 of the limit, ≤ 1% 429s, ≤ 3 polls per row, lag p95
≤ 10% of the median latency. The lag is split where the emulator first told the client the response had
ended ("its own" part is the client's), and the summary gives each emulator's CPU and its longest
garbage-collection pause (`/emulator/stats`), which stops every stream it serves.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks._common import (
    LATENCY,
    emulator,
    emulator_options,
    measure_lean_stream,
    measure_rowrelay,
    median,
    report_rate_limit,
    table,
    write,
)

RPM = 30_000
WINDOW = 1.0
MAX_IN_FLIGHT = 5000


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--modes", nargs="+", choices=("poll", "stream"), default=["poll", "stream"])
    parser.add_argument("--quick", action="store_true", help="3,000 rows")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side, alternated")
    args = parser.parse_args(argv)
    rows = 3000 if args.quick else args.rows
    sides = [("rowrelay", mode) for mode in args.modes]
    if "stream" in args.modes:
        sides.insert(sides.index(("rowrelay", "stream")), ("lean", "stream"))
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for client, mode in sides:
            name = mode if client == "rowrelay" else "lean_stream"
            runs.setdefault(name, []).append(one_run(client, mode, rows))
            print(f"\n--- {name}; the bucket holds {WINDOW:g} s of R ---")
            report_rate_limit(runs[name][-1], rows, RPM)
    summary = summarise(runs)
    write(
        "tier5",
        {
            "rows": rows,
            "rpm": RPM,
            "window_s": WINDOW,
            "latency": LATENCY,
            "max_in_flight": MAX_IN_FLIGHT,
            "summary": summary,
            "runs": runs,
        },
    )
    return summary


def one_run(client: str, mode: str, rows: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-tier5-") as tmp,
        emulator(*emulator_options(RPM, window=WINDOW)) as emu,
    ):
        if client == "lean":
            result = measure_lean_stream(emu, rows, RPM, max_in_flight=MAX_IN_FLIGHT, window=WINDOW)
        else:
            result = measure_rowrelay(
                emu, rows, RPM, mode, Path(tmp), max_in_flight=MAX_IN_FLIGHT, window=WINDOW
            )
        result["emulator_cpu_s"] = emu.cpu_seconds()
        # The server stops every stream while it collects: the longest stop bounds its lateness from below.
        result["emulator_gc_pause_s"] = emu.stats()["gc"]["longest_pause_s"]
    return result


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each side's medians, and rowrelay's stream rate ÷ the lean client's (medians of the runs)."""
    keys = (
        "steady_ratio",
        "span_ratio",
        "lag_p95_over_median_latency",
        "client_lag_p95_over_median_latency",
        "cpu_s",
        "emulator_cpu_s",
        "emulator_gc_pause_s",
    )
    summary: dict[str, Any] = {
        name: {key: median([r[key] for r in results]) for key in keys} for name, results in runs.items()
    }
    if "stream" in summary and "lean_stream" in summary:
        ratio = summary["stream"]["steady_ratio"] / summary["lean_stream"]["steady_ratio"]
        summary["stream_rate_over_lean"] = ratio
    print("\nmedians over the runs:")
    table(
        [(name, *(f"{s[key]:.3f}" for key in keys)) for name, s in summary.items() if isinstance(s, dict)],
        (
            "side",
            "steady ÷ R",
            "span ratio",
            "lag p95 ÷ median",
            "its own",
            "client CPU s",
            "emulator CPU s",
            "its GC pause s",
        ),
    )
    if "stream_rate_over_lean" in summary:
        print(f"rowrelay's stream rate ÷ the lean client's: {summary['stream_rate_over_lean']:.3f}")
    return summary


if __name__ == "__main__":
    main()
