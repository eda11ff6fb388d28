"""Many in flight: rowrelay holding 100,000 background responses at once, its peak RSS and its poll rate.

    .venv/bin/python -m tests.benchmarks.bench_inflight [--quick] [--rows 100000] [--poll-rpm 6000]
        [--through-cli]

The emulator runs in its own process (own core) with a long fixed latency, so nothing completes while
measured, and no rate limits; rowrelay's runner runs in a child process in poll mode with
max_in_flight = rows and creates out of the way (rpm, tpm), so every row goes in flight as fast as the
server takes creates. Once all are in flight the run goes on for a poll window, then is stopped (the
benchmark does not wait for completion).

Measured: the time from the child's start to all rows in flight; the child's peak RSS (VmHWM) and the
emulator's, separately; polls per second over the window as the server counted them (its route counters,
read at the window's ends) and as the runner counted them between its own progress reports (exact times,
no read's duration in the window), against the poll budget poll_rpm/60. References in the same run: the
same runner at a tenth of the rows (so RSS per in-flight row is the slope between the two), and a bare
asyncio program holding `rows` sleeping tasks (the floor of one task per row).

`--through-cli` also measures `rowrelay run` itself at `rows` in the same sitting, after the runner
(tests/benchmarks/_inflight_cli.py): the command a user runs, its Prefect flow and as many shards at once
as --max-in-flight takes, in its own process with a home of its own; the same figures, from the server's
side only (from the command's start: its first create, all in flight, its first poll; its VmHWM; polls/s
over the window from then).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.benchmarks._common import ROOT, cores, emulator, table, write
from tests.benchmarks._inflight_cli import measure_cli, retrieves, status

CHILD = "tests.benchmarks._inflight_child"
LATENCY = "fixed:3600"
"""Longer than any run here: every response stays in flight, so the count and the polls are steady."""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--poll-rpm", type=int, default=6_000)
    parser.add_argument("--window", type=float, default=40.0, help="seconds measured once all are in flight")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, a 15 s window")
    parser.add_argument("--through-cli", action="store_true", help="also `rowrelay run` at --rows")
    args = parser.parse_args(argv)
    rows, window = (20_000, 15.0) if args.quick else (args.rows, args.window)
    results = {"full": measure(rows, args.poll_rpm, window)}
    if args.through_cli:
        with emulator("--latency", LATENCY) as emu:
            cli = measure_cli(emu, rows, args.poll_rpm, window)
            results["cli"] = {**cli, "emulator_peak_rss_mb": status(emu.process.pid, "VmHWM")}
    results |= {
        "tenth": measure(rows // 10, args.poll_rpm, window),
        "sleepers": sleepers(rows),
    }
    report(results, rows, args.poll_rpm)
    write("inflight", {"rows": rows, "poll_rpm": args.poll_rpm, "latency": LATENCY, **results})
    return results


def measure(rows: int, poll_rpm: int, window: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-inflight-") as tmp, emulator("--latency", LATENCY) as emu:
        child = _spawn(CHILD, "rowrelay", emu.url, str(Path(tmp) / "state"), str(rows), str(poll_rpm))
        lines = _lines(child)
        started = time.monotonic()
        try:
            all_in = _until(lines, child, lambda line: line["in_flight"] >= rows)
            in_flight_s = time.monotonic() - started
            rss_at_all_in = status(child.pid, "VmRSS")
            before, at = retrieves(emu), time.monotonic()
            last = all_in
            deadline = at + window
            while time.monotonic() < deadline:
                last = _next(lines, child)
            after, until = retrieves(emu), time.monotonic()
            peak = status(child.pid, "VmHWM")
            emulator_peak = status(emu.process.pid, "VmHWM")
            held = emu.stats()["held"]
        finally:
            child.kill()
            child.wait()
    polls_per_s = (after - before) / (until - at)
    return {
        "rows": rows,
        "seconds_to_all_in_flight": in_flight_s,
        "peak_rss_mb": peak,
        "rss_at_all_in_flight_mb": rss_at_all_in,
        "emulator_peak_rss_mb": emulator_peak,
        "emulator_held": held,
        "server_polls_per_s": polls_per_s,
        "poll_budget_per_s": poll_rpm / 60,
        "polls_over_budget": polls_per_s / (poll_rpm / 60),
        "client_polls_in_window": last["polls"] - all_in["polls"],
        "client_polls_per_s": (last["polls"] - all_in["polls"]) / (last["t"] - all_in["t"]),
        "window_s": until - at,
        "creates": last["creates"],
        "load_1m_at_end": os.getloadavg()[0],
    }


def sleepers(rows: int) -> dict[str, Any]:
    child = _spawn(CHILD, "sleepers", str(rows))
    out, _ = child.communicate(timeout=300)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return {"rows": rows, **result}


def _spawn(module: str, *args: str) -> subprocess.Popen[str]:
    _, others = cores()
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, others),
    )


def _lines(child: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The child's stdout lines, read on a thread so that the window's clock is not held by a read."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _next(lines: queue.Queue[str | None], child: subprocess.Popen[str]) -> dict[str, Any]:
    line = lines.get(timeout=600)
    if line is None:
        raise RuntimeError(f"the runner ended early (exit {child.wait()})")
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def _until(lines: queue.Queue[str | None], child: subprocess.Popen[str], done: Any) -> dict[str, Any]:
    while not done(line := _next(lines, child)):
        pass
    return line


def report(results: dict[str, Any], rows: int, poll_rpm: int) -> None:
    full, tenth, bare = results["full"], results["tenth"], results["sleepers"]
    per_row_kb = (full["peak_rss_mb"] - tenth["peak_rss_mb"]) / (full["rows"] - tenth["rows"]) * 1024
    results["rss_per_in_flight_row_kb"] = per_row_kb
    print(f"\nmany in flight: latency {LATENCY}, poll budget {poll_rpm:,}/min ({poll_rpm / 60:.0f}/s)")
    rows_out = []
    for label, r in (("", full), ("", tenth), ("rowrelay run, ", results.get("cli"))):
        if r is None:
            continue
        runner_polls = f"{r['client_polls_per_s']:.1f}/s" if "client_polls_per_s" in r else ""
        rows_out.append(
            (
                f"{label}{r['rows']:,} in flight (load {r['load_1m_at_end']:.1f})",
                f"{r['peak_rss_mb']:.0f} MB",
                f"{r['seconds_to_all_in_flight']:.1f} s",
                f"{r['server_polls_per_s']:.0f}/s ({r['polls_over_budget']:.2f} of budget)",
                runner_polls,
                f"{r['emulator_peak_rss_mb']:.0f} MB ({r['emulator_held']:,} held)",
            )
        )
    rows_out.append(
        (f"bare asyncio, {bare['rows']:,} sleeping tasks", f"{bare['peak_rss_mb']:.0f} MB", "", "", "", "")
    )
    table(
        rows_out,
        ("run", "peak RSS", "to all in flight", "server polls", "runner's polls", "emulator peak RSS"),
    )
    print(
        f"RSS per in-flight row (slope between the two runs): {per_row_kb:.2f} KB; "
        f"target <= 1,024 MB at {rows:,}"
    )
    if "cli" in results:
        cli = results["cli"]
        print(
            f"rowrelay run, from the command's start: first create {cli['seconds_to_first_create']:.1f} s, "
            f"all {cli['rows']:,} in flight {cli['seconds_to_all_in_flight']:.1f} s, first poll "
            f"{cli['seconds_to_first_poll']:.1f} s (VmRSS {cli['rss_at_window_start_mb']:.0f} MB as the "
            f"poll window opened); the runner alone: all in flight {full['seconds_to_all_in_flight']:.1f} s"
        )


if __name__ == "__main__":
    main()
