"""Overhead: rows per second end to end with zero latency and no limits, with and without Prefect.

    .venv/bin/python -m tests.benchmarks.bench_overhead [--quick] [--rows 20000] [--runs 1]

20,000 rows from a CSV against the emulator (own process, own core, `fixed:0` latency, no limits);
checkpoints on (rowrelay's defaults). Each variant runs in a fresh process; the clock runs from reading
the CSV to the written output, after imports:
- `direct`: read and prepare the CSV, plan the state table, `open_session(...).runner.run()`, export:
  the same building blocks the flow uses, called as plain functions.
- `prefect`: the `run_batch` flow on the same CSV, against a real Prefect API (`prefect server start`
  on a free port with a temporary PREFECT_HOME, reached through PREFECT_API_URL; not ephemeral mode).
Then the `direct` run again under pyinstrument; its text profile is saved to
tests/benchmarks/results/overhead_profile.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

from tests.benchmarks._common import RESULTS_DIR, emulator, median, peak_rss_mb, run_child, table, write
from tests.prefect_server import prefect_server

PROFILE = RESULTS_DIR / "overhead_profile.txt"


class _Limits(TypedDict):
    rpm: int
    tpm: int
    max_in_flight: int


LIMITS = _Limits(rpm=10**7, tpm=10**12, max_in_flight=1000)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as sink:
        writer = csv.writer(sink)
        writer.writerow(["id", "text"])
        writer.writerows(
            (f"t{i:07d}", f"Ticket {i}: the printer on floor {i % 7} jams.") for i in range(rows)
        )


# --- the children --------------------------------------------------------------------------------


async def _direct(url: str, source: Path, state: Path, out: Path, profile: Path | None) -> dict[str, Any]:
    from rowrelay.tasks.dataset import InputSpec, prepare, read_input, write_output
    from rowrelay.tasks.run import open_session
    from rowrelay.tasks.settings import load_settings
    from rowrelay.tasks.state import StateTable
    from rowrelay.tasks.state import results_frame_of as results_frame

    started = time.perf_counter()
    settings = load_settings(backend="emulator", base_url=url, **LIMITS)
    prepared = prepare(read_input(source), InputSpec(template="{text}", id_column="id"))
    table = StateTable.open(
        state, checkpoint_interval=settings.checkpoint_interval, checkpoint_rows=settings.checkpoint_rows
    )
    table.add_pending((row.row_key, row.row_index, row.input_hash) for row in prepared.rows)
    table.flush()
    prompts = {row.row_key: row.prompt for row in prepared.rows}
    session = open_session(settings, table, prompts, base_url=url)
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="enabled", interval=0.001)
        profiler.start()
    try:
        report = await session.runner.run()
    finally:
        if profiler is not None and profile is not None:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=True, color=False))  # noqa: ASYNC240  (once, after the run)
        await session.aclose()
        table.close()
    write_output(prepared.frame, results_frame(state, prepared.keys), out)
    return {"seconds": time.perf_counter() - started, "completed": report.counts.get("completed", 0)}


async def _flow(url: str, source: Path, state: Path, out: Path) -> dict[str, Any]:
    from rowrelay.flows.batch import run_batch

    started = time.perf_counter()
    result = await run_batch(
        str(source),
        template="{text}",
        id_column="id",
        state=str(state),
        output=str(out),
        backend="emulator",
        base_url=url,
        **LIMITS,
    )
    return {"seconds": time.perf_counter() - started, "completed": result.counts.get("completed", 0)}


def child(argv: list[str]) -> None:
    kind, url, source, state, out = argv[0], argv[1], Path(argv[2]), Path(argv[3]), Path(argv[4])
    if kind == "flow":
        result = asyncio.run(_flow(url, source, state, out))
    else:
        result = asyncio.run(_direct(url, source, state, out, Path(argv[5]) if len(argv) > 5 else None))
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))


# --- the driver ----------------------------------------------------------------------------------


def one_run(
    kind: str, rows: int, tmp: Path, env: dict[str, str], profile: Path | None = None
) -> dict[str, Any]:
    source = tmp / "input.csv"
    if not source.exists():
        write_csv(source, rows)
    state, out = tmp / f"state-{kind}-{time.monotonic_ns()}", tmp / f"out-{time.monotonic_ns()}.parquet"
    extra = [str(profile)] if profile else []
    with emulator("--latency", "fixed:0") as emu:
        cpu = emu.cpu_seconds()
        run: dict[str, Any] = run_child(
            "tests.benchmarks.bench_overhead",
            "--child",
            kind,
            emu.url,
            str(source),
            str(state),
            str(out),
            *extra,
            env=env,
        )
        run["emulator_cpu_s"] = emu.cpu_seconds() - cpu
    run["rows_per_s"] = rows / run["seconds"]
    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return {}
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1, help="runs per variant (medians are reported)")
    parser.add_argument("--quick", action="store_true", help="3,000 rows")
    args = parser.parse_args(argv)
    rows = 3000 if args.quick else args.rows
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as name:
        tmp = Path(name)
        home = tmp / "prefect-home"
        home.mkdir()
        with prefect_server(home) as prefect_env:
            runs: dict[str, list[dict[str, Any]]] = {"direct": [], "prefect": []}
            for _ in range(args.runs):  # interleaved, so drifting machine load hits both alike
                runs["direct"].append(one_run("direct", rows, tmp, dict(os.environ)))
                runs["prefect"].append(one_run("flow", rows, tmp, prefect_env))
        profiled = one_run("direct", rows, tmp, dict(os.environ), PROFILE)
    direct = median([r["rows_per_s"] for r in runs["direct"]])
    flow = median([r["rows_per_s"] for r in runs["prefect"]])
    result = {
        "rows": rows,
        "prefect_api": "prefect server start (real API via PREFECT_API_URL, temporary PREFECT_HOME)",
        "direct_rows_per_s": direct,
        "prefect_rows_per_s": flow,
        "prefect_overhead": direct / flow - 1,
        "runs": runs,
        "profiled_run": profiled,
        "profile": str(PROFILE.relative_to(RESULTS_DIR.parents[2])),
    }
    print(f"\noverhead: {rows:,} rows, zero latency, no limits, checkpoints on ({args.runs} run(s) each)")
    table(
        [
            (
                "runner directly",
                f"{direct:,.0f}",
                f"{median([r['seconds'] for r in runs['direct']]):.1f}",
                f"{median([r['peak_rss_mb'] for r in runs['direct']]):.0f}",
                "",
            ),
            (
                "run_batch flow (Prefect)",
                f"{flow:,.0f}",
                f"{median([r['seconds'] for r in runs['prefect']]):.1f}",
                f"{median([r['peak_rss_mb'] for r in runs['prefect']]):.0f}",
                f"{direct / flow - 1:+.1%} (<= +5%)",
            ),
            (
                "runner directly, profiled",
                f"{profiled['rows_per_s']:,.0f}",
                f"{profiled['seconds']:.1f}",
                "",
                "",
            ),
        ],
        ("variant", "rows/s", "seconds", "peak RSS MB", "Prefect adds"),
    )
    print(f"profile: {PROFILE}")
    write("overhead", result)
    return result


if __name__ == "__main__":
    main()
