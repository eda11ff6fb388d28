"""What a poll-mode row costs the runner's CPU, streamed or polled, by the length of its answer.

    .venv/bin/python -m tests.benchmarks.bench_streamcpu [--quick] [--rows 3000] [--runs 2]

Poll mode follows up to `poll_streams` responses on their create's stream (README, "Poll mode streams a
few rows"), and a stream's every event is read: a long answer is hundreds of text deltas. The runner
(`open_session(...).runner.run()`, in this process, pinned off the emulator's core) runs `rows` rows at
0.5 s of latency, 500 in flight, no rate limits, against the emulator with short answers (its default:
at most 16 deltas) and long ones (800-1,000 output tokens, a delta each), once with `poll_streams=256`
and once with 0 (every row polled: the reference, measured in the same run). CPU a row is the process's
CPU time over the run divided by the rows; medians over `runs`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rowrelay.tasks.run import open_session
from rowrelay.tasks.settings import Settings
from tests.benchmarks._common import cores, emulator, table, write
from tests.support.runs import new_table, prompts

ANSWERS = {
    "short": ["--output-tokens", "16,96"],
    "long": ["--output-tokens", "800,1000", "--max-deltas", "800"],
}


async def _run(url: str, streams: int, rows: int, directory: Path) -> dict[str, float]:
    settings = Settings(
        backend="openai", base_url=url, api_key="bench", model="gpt-4.1-mini", rpm=10**7, tpm=10**12,
        poll_rpm=10**7, max_in_flight=500, poll_streams=streams,
    )  # fmt: skip
    state = new_table(directory, rows)
    session = open_session(settings, state, prompts(rows))
    cpu, wall = time.process_time(), time.monotonic()
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        state.close()
    assert report.counts == {"completed": rows}, report.counts
    return {"cpu_ms_per_row": (time.process_time() - cpu) / rows * 1000, "wall_s": time.monotonic() - wall,
            "polls_per_row": report.counters.polls / rows}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="500 rows, one run")
    args = parser.parse_args(argv)
    rows, runs = (500, 1) if args.quick else (args.rows, args.runs)
    os.sched_setaffinity(0, cores()[1])
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-streamcpu-") as tmp:
        for answers, options in ANSWERS.items():
            for streams in (0, 256):
                measured = []
                for run in range(runs):
                    with emulator("--latency", "fixed:0.5", *options) as emu:
                        where = Path(tmp) / f"{answers}-{streams}-{run}"
                        measured.append(asyncio.run(_run(emu.url, streams, rows, where)))
                results[f"{answers}, {streams} streams"] = {
                    key: statistics.median(m[key] for m in measured) for key in measured[0]
                }
    print(f"\npoll mode, streamed or polled: {rows:,} rows, latency 0.5 s, medians of {runs}")
    table(
        [(name, f"{r['cpu_ms_per_row']:.2f}", f"{r['polls_per_row']:.2f}", f"{r['wall_s']:.1f}")
         for name, r in results.items()],
        ("answers, poll_streams", "CPU ms a row", "polls a row", "wall s"),
    )  # fmt: skip
    write("streamcpu", {"rows": rows, "runs": runs, "results": results})
    return results


if __name__ == "__main__":
    main()
