"""Crash cost: a 2,000-row run SIGKILLed 5 times at random moments, then run to the end.

    .venv/bin/python -m tests.benchmarks.bench_crash [--quick] [--rows 2000] [--kills 5]

The emulator runs in its own process (latency uniform 0.5–2.5 s; creates answer 0.2 s after their job
starts, so some kills land between "the server started it" and "its id is durable": orphans). Each
runner is a fresh process (`--child`) that prints wall-clock marks: table opened, first new progress
(the first row it brings to a terminal status). Reported: duplicate creates on the server beyond the
orphans the table counted (target 0), rows lost (must be 0), time to resume from process start to the
first new progress (median over restarts), and total wall time including the killed runs.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.benchmarks._common import ROOT, cores, emulator, median, table, write

BATCH = "crash-bench"


async def _worker(url: str, state: Path, rows: int) -> None:
    from rowrelay.tasks.run import open_session
    from rowrelay.tasks.settings import Settings
    from rowrelay.tasks.state import StateTable

    table_ = StateTable.open(state, batch_id=BATCH, checkpoint_interval=0.05, lease_timeout=5.0)
    table_.add_pending((f"row-{i:05d}", i, f"hash-{i}") for i in range(rows))
    done_at_open = table_.counts().get("completed", 0)
    print(f"OPENED {time.time()}", flush=True)
    settings = Settings(
        backend="emulator",
        base_url=url,
        rpm=100_000,
        poll_rpm=100_000,
        max_in_flight=200,
        checkpoint_interval=0.05,
    )
    session = open_session(settings, table_, lambda key: f"Summarise {key}.")

    async def watch() -> None:
        while table_.counts().get("completed", 0) <= done_at_open:  # noqa: ASYNC110  (a probe, not a wait for an event)
            await asyncio.sleep(0.01)
        print(f"PROGRESS {time.time()}", flush=True)

    watcher = asyncio.create_task(watch())
    try:
        await session.runner.run()
    finally:
        watcher.cancel()
        await session.aclose()
        table_.close()
    print(f"DONE {time.time()}", flush=True)


def _run(url: str, state: Path, rows: int, kill_after: float | None) -> dict[str, Any]:
    started = time.time()
    log = (state.parent / f"worker-{time.monotonic_ns()}.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.bench_crash", "--child", url, str(state), str(rows)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, cores()[1]),
    )
    try:
        worker.wait(timeout=kill_after if kill_after is not None else 600)
        killed = False
        if worker.returncode != 0:
            log.close()
            raise RuntimeError(f"worker failed: {Path(log.name).read_text()[-3000:]}")
    except subprocess.TimeoutExpired:
        if kill_after is None:
            raise
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        killed = True
    log.close()
    assert worker.stdout is not None
    marks = {line.split()[0]: float(line.split()[1]) for line in worker.stdout.read().splitlines() if line}
    return {
        "killed": killed,
        "wall_s": time.time() - started,
        "to_open_s": marks["OPENED"] - started if "OPENED" in marks else None,
        "to_first_progress_s": marks["PROGRESS"] - started if "PROGRESS" in marks else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        asyncio.run(_worker(argv[1], Path(argv[2]), int(argv[3])))
        return {}
    from rowrelay.tasks.state import load

    quick = "--quick" in argv
    rows = 500 if quick else int(argv[argv.index("--rows") + 1]) if "--rows" in argv else 2000
    kills = int(argv[argv.index("--kills") + 1]) if "--kills" in argv else 5
    rng = random.Random(20261124)
    with (
        tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp,
        emulator("--latency", "uniform:0.5,2.5", "--seed", "9", "--create-delay", "0.2") as emu,
    ):
        state = Path(tmp) / "state"
        started = time.time()
        # Imports take about a second: kills land between 1.5 s and 8 s into each run.
        runs = [_run(emu.url, state, rows, rng.uniform(1.5, 8.0)) for _ in range(kills)]
        runs.append(_run(emu.url, state, rows, None))
        total = time.time() - started
        listing = emu.listing()
        frame = load(state)
    creates = Counter(
        r["metadata"]["rowrelay_row"] for r in listing if r["metadata"].get("rowrelay_batch") == BATCH
    )
    orphans = dict(zip(frame["row_key"], frame["orphans"], strict=True))
    duplicates = {key: n - 1 for key, n in creates.items() if n > 1}
    beyond = sum(max(0, extra - int(orphans.get(key, 0))) for key, extra in duplicates.items())
    lost = rows - int((frame["status"] == "completed").sum())
    restarts = runs[1:]
    result = {
        "rows": rows,
        "kills": sum(r["killed"] for r in runs),
        "runs": runs,
        "duplicate_creates": sum(duplicates.values()),
        "orphans_counted": int(sum(orphans.values())),
        "duplicates_beyond_orphans": beyond,
        "rows_lost": lost,
        "resume_to_first_progress_median_s": median(
            [r["to_first_progress_s"] for r in restarts if r["to_first_progress_s"] is not None]
        ),
        "resume_to_open_median_s": median([r["to_open_s"] for r in restarts if r["to_open_s"] is not None]),
        "final_run_s": runs[-1]["wall_s"],
        "total_s": total,
    }
    print(f"\ncrash cost: {rows:,} rows, {result['kills']} SIGKILLs then a run to the end")
    table(
        [
            ("rows lost", result["rows_lost"], "0"),
            ("duplicate creates beyond counted orphans", beyond, "0"),
            (
                "duplicate creates / orphans counted",
                f"{result['duplicate_creates']} / {result['orphans_counted']}",
                "",
            ),
            ("restart → table open (median)", f"{result['resume_to_open_median_s']:.2f} s", ""),
            (
                "restart → first new progress (median)",
                f"{result['resume_to_first_progress_median_s']:.2f} s",
                "",
            ),
            ("final run (to the end)", f"{result['final_run_s']:.1f} s", ""),
            ("total, kills included", f"{total:.1f} s", ""),
        ],
        ("measure", "value", "target"),
    )
    write("crash", result)
    return result


if __name__ == "__main__":
    main()
