"""rowrelay as a user runs it (the `rowrelay run` command, start-up included) against the loop people
first write, at 1,000 and 5,000 rows.

    .venv/bin/python -m tests.benchmarks.bench_cli [--quick] [--sizes 1000 5000] [--rpm 3000] [--repeat 1]

The workload is bench_baseline's: lognormal latency (median 3 s), R = 3,000 creates/min in the
emulator's one-minute bucket, 1,000 responses in flight at most. The baseline is bench_baseline's loop
(tests/benchmarks/_workload.py: a task per row, create, poll every 2 s, semaphore + aiolimiter, the SDK's
retries), run as `python -m tests.benchmarks._workload` in its own process. rowrelay is the installed
`rowrelay run` on a CSV of the same prompts, in poll and in stream mode, told what the user knows about
their limits (`--rpm R --tpm 10^9 --max-in-flight 1000`, `ROWRELAY_POLL_RPM` out of the way as the
baseline's polls are unlimited), with its local Prefect server and its warm runner already running
(started by one 3-row run before the measures: a machine's first run is bench_startup_run's), so each
measured run is served by the runner (flows/warm.py), as a user's second run is; `--own-process`
(ROWRELAY_WARM=false) runs each in its own process instead, importing everything itself. Each side
gets its own fresh emulator on its own core. Both walls are the whole process (the command's, for a
warm run), interpreter start to exit; requests are the server's counts.
The issue's targets: wall ≤ 0.8× and requests ≤ 1.0× the baseline's. `--repeat N` measures the three
sides in turn N times per size and quotes each side's median sitting (by wall) and the ratios of the
medians, with every sitting's wall beside them.

A third reference, the limit itself: from the responses each emulator completed (its own record of when
each was created and how long it took), the shortest wall its bucket and 1,000 slots allow for them in
the order they were created (`_common.limit_bound`). Each side's wall over its bound is what that side
adds to what the limit and the model impose: start-up, pacing, noticing completions late. For rowrelay the
two ends of it are printed: seconds from the command's start to its first create, and from the server
first telling it of the last response's end to the command's exit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from tests.benchmarks._common import (
    ROOT,
    cores,
    emulator,
    emulator_options,
    limit_bound,
    measure_baseline,
    server_counts,
    table,
    write,
)
from tests.benchmarks._workload import MODEL, prompt
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.warm import served, wait_for_runner

ROWRELAY = str(Path(sys.executable).with_name("rowrelay"))
MODES = ("poll", "stream")


def _run(args: list[str], env: dict[str, str]) -> float:
    """Seconds `rowrelay ARGS` took, on the non-emulator cores; raises if it did not exit 0."""
    _, others = cores()
    started = time.monotonic()
    done = subprocess.run(
        [ROWRELAY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
        preexec_fn=lambda: __import__("os").sched_setaffinity(0, others),
    )  # fmt: skip
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"rowrelay {' '.join(args[:2])} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return took


def _source(tmp: Path, rows: int) -> Path:
    path = tmp / f"prompts-{rows}.csv"
    pd.DataFrame(
        {"id": [f"row-{i:07d}" for i in range(rows)], "prompt": [prompt(i) for i in range(rows)]}
    ).to_csv(path, index=False)
    return path


def measure_cli(rows: int, rpm: int, mode: str, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    where = tmp / f"cli-{rows}-{mode}"
    with emulator(*emulator_options(rpm)) as emu:
        args = [
            "run", str(_source(tmp, rows)), "--id-column", "id", "--prompt-column", "prompt",
            "--base-url", emu.url, "--model", MODEL, "--mode", mode, "--rpm", str(rpm),
            "--tpm", str(10**9), "--max-in-flight", "1000",
            "--state", str(where / "state"), "--output", str(where / "out.parquet"),
        ]  # fmt: skip
        started = time.time()
        wall = _run(args, env)
        ended = time.time()
        counts = server_counts(emu.stats())
        listing = emu.listing()
        bound = limit_bound(listing, rpm, in_flight=1000)
    out = pd.read_parquet(where / "out.parquet")
    return {
        "process_wall_s": wall,
        "limit_bound_s": bound,
        "completed": int((out["rowrelay_status"] == "completed").sum()),
        **counts,
        **_phases(listing, started, ended),
    }


def _phases(listing: list[dict[str, Any]], started: float, ended: float) -> dict[str, float]:
    """Where the command's wall went past the server's work, by the emulator's clock (the same machine's):
    from its start to the first create, and from the server telling it of the last end to its exit."""
    created = min(r["created_at_precise"] for r in listing)
    told = [r["ended_told_at_precise"] for r in listing if r["ended_told_at_precise"] is not None]
    return {
        "to_first_create_s": created - started,
        "exit_after_last_told_s": ended - max(told, default=ended),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="500 rows at R = 1,200/min")
    parser.add_argument("--own-process", action="store_true", help="ROWRELAY_WARM=false: no warm runner")
    parser.add_argument("--repeat", type=int, default=1, help="sittings per size, in turn; medians quoted")
    args = parser.parse_args(argv)
    sizes, rpm = ([500], 1200) if args.quick else (args.sizes, args.rpm)
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-cli-") as name,
        stopped_afterwards(Path(name) / "home") as home,
    ):
        tmp = Path(name)
        env = {
            **environment(home, tmp / "client-prefect"),
            "OPENAI_API_KEY": "bench",
            "ROWRELAY_POLL_RPM": str(10**7),
            "ROWRELAY_WARM": "false" if args.own_process else "true",
        }
        _run(["run", str(_source(tmp, 3)), "--id-column", "id", "--prompt-column", "prompt",
              "--state", str(tmp / "warm" / "state"), "--output", str(tmp / "warm" / "out.csv")],
             {k: v for k, v in env.items() if k != "OPENAI_API_KEY"})  # fmt: skip
        if not args.own_process:
            wait_for_runner(home)  # ready, so no measured run shares the machine with its imports
        for rows in sizes:
            sittings = []
            for number in range(args.repeat):  # in turn, so each side meets the machine's moods alike
                own = tmp / f"sitting-{rows}-{number}"  # a fresh batch each time: one resumed sends nothing
                own.mkdir()
                sitting = {"baseline": measure_baseline(rows, rpm)}
                for mode in MODES:
                    if not args.own_process:
                        wait_for_runner(home)  # its next fork ready, as a user's next run finds it
                    sitting[mode] = measure_cli(rows, rpm, mode, own, env)
                sittings.append(sitting)
            results[str(rows)] = _medians(sittings)
        if not args.own_process:
            served_runs = len(served(home))
            measured = len(MODES) * len(sizes) * args.repeat
            assert served_runs == measured, f"{served_runs} of {measured} measured runs served warm"
    report(results, rpm)
    write("cli", {"rpm": rpm, "warm": not args.own_process, "repeat": args.repeat, "sizes": results})
    return results


def _medians(sittings: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Each side's median sitting by its wall (the lower of the middle two for an even count), every
    sitting's walls, and the ratios of the medians: one baseline run's luck (its walls spread 1.10-1.42x
    the limit's bound across sittings) moved the ratio more than any change to rowrelay did."""

    def median_of(side: str) -> dict[str, Any]:
        ranked = sorted(sittings, key=lambda sitting: float(sitting[side]["process_wall_s"]))
        return ranked[(len(ranked) - 1) // 2][side]

    base = median_of("baseline")
    result: dict[str, Any] = {"baseline": base}
    for mode in MODES:
        cli = median_of(mode)
        result[mode] = {
            **cli,
            "wall_ratio": cli["process_wall_s"] / base["process_wall_s"],
            "requests_ratio": cli["requests"] / base["requests"],
        }
    result["walls"] = {side: [s[side]["process_wall_s"] for s in sittings] for side in ("baseline", *MODES)}
    return result


def report(results: dict[str, Any], rpm: int) -> None:
    print(f"\n`rowrelay run` vs the first loop people write: R = {rpm:,} creates/min, latency median 3 s")
    lines = []
    for rows, r in results.items():
        base = r["baseline"]
        lines.append((f"{int(rows):,} baseline", f"{base['process_wall_s']:.1f}", f"{base['requests']:,}",
                      f"{base['server_429']:,}", f"{base.get('failed', 0)} failed",
                      _over_bound(base), "", ""))  # fmt: skip
        for mode in ("poll", "stream"):
            cli = r[mode]
            done = f"{cli['completed']:,} completed"
            lines.append((f"{int(rows):,} rowrelay run, {mode}", f"{cli['process_wall_s']:.1f}",
                          f"{cli['requests']:,}", f"{cli['server_429']:,}", done,
                          _over_bound(cli), f"{cli['to_first_create_s']:.2f}",
                          f"{cli['exit_after_last_told_s']:.2f}"))  # fmt: skip
            lines.append(("  ÷ baseline (target ≤ 0.8, ≤ 1.0)", f"{cli['wall_ratio']:.2f}",
                          f"{cli['requests_ratio']:.2f}", "", "", "", "", ""))  # fmt: skip
        if len(r["walls"]["baseline"]) > 1:
            for side, walls in r["walls"].items():
                lines.append((f"  {side}: each sitting's wall", " ".join(f"{w:.1f}" for w in walls),
                              "", "", "", "", "", ""))  # fmt: skip
    table(
        lines,
        ("side", "process wall s", "requests", "429s", "rows", "limit's bound s (wall ÷ it)",
         "to 1st create s", "exit after last end s"),
    )  # fmt: skip


def _over_bound(side: dict[str, Any]) -> str:
    return f"{side['limit_bound_s']:.1f} ({side['process_wall_s'] / side['limit_bound_s']:.2f})"


if __name__ == "__main__":
    main()
