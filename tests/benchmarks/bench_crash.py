"""Crash cost: runs SIGKILLed mid-batch, then run to the end; paid duplicates per kill, in poll and stream.

    .venv/bin/python -m tests.benchmarks.bench_crash [--quick] [--rows 400] [--kills 5]

Three scenarios per wait mode, each against its own emulator process:
- **window**: creates answer 0.2 s after their job starts and each kill comes right after the server saw
  a few new creates from the runner, so kills land inside creates (the job started, its id not yet
  heard). The emulator marks such jobs unanswered; the benchmark fails unless some kill landed there.
  Every create in flight at a kill is then a paid duplicate by construction: this scenario checks the
  counting, not the cost.
- **burst**: creates answer at once, kills still come during the burst of creates: the worst moment for
  a real service, where what is lost is the time from the server's answer to the id being durable.
- **chaos**: the reliability target's workload: 3% of responses fail and 3% of creates get a 5xx,
  creates answer at once, responses take 2-8 s, and kills come at random moments (1.5-9 s into a run,
  imports included).
Each runner is a fresh process (`--child`) that prints wall-clock marks (table opened, first new
progress). Reported per scenario and mode: rows lost (must be 0: every row ends, none vanishes); paid
duplicates, the jobs of a row beyond its first that were not a failed response retried by policy (total,
per kill, share of rows: target <= 2% in chaos); those not counted in the row's `orphans` (must be 0);
jobs beyond the row's spent attempts (must be 0); and resume times.
"""

from __future__ import annotations

import argparse
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

from tests.benchmarks._common import ROOT, Emulator, cores, emulator, median, table, write

BATCH = "crash-bench"
MAX_ATTEMPTS = 8  # above the kills, so a row caught by several can still complete
SCENARIOS: dict[str, tuple[str, ...]] = {
    "window": ("--latency", "uniform:0.5,2.5", "--seed", "9", "--create-delay", "0.2"),
    "burst": ("--latency", "uniform:0.5,2.5", "--seed", "9"),
    "chaos": ("--latency", "uniform:2,8", "--seed", "9", "--fail-rate", "0.03", "--error-rate", "0.03"),
}
ENDED_ON_THE_SERVER = frozenset({"failed", "cancelled"})
"""Jobs that ended without an answer worth keeping: the row is sent again by policy, not by mistake."""


async def _worker(url: str, state: Path, rows: int, mode: str) -> None:
    from rowrelay.tasks.run import open_session
    from rowrelay.tasks.settings import Settings
    from rowrelay.tasks.state import StateTable

    table_ = StateTable.open(
        state, batch_id=BATCH, checkpoint_interval=0.05, lease_timeout=5.0, max_attempts=MAX_ATTEMPTS
    )
    table_.add_pending((f"row-{i:05d}", i, f"hash-{i}") for i in range(rows))
    done_at_open = table_.counts().get("completed", 0)
    print(f"OPENED {time.time()}", flush=True)
    settings = Settings(
        backend="emulator", base_url=url, mode=mode, rpm=100_000, poll_rpm=100_000, max_in_flight=200,
        checkpoint_interval=0.05, max_attempts=MAX_ATTEMPTS,
    )  # fmt: skip
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


def _jobs(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.listing() if r["metadata"].get("rowrelay_batch") == BATCH]


def _run(emu: Emulator, state: Path, rows: int, mode: str, kill: tuple[str, float] | None) -> dict[str, Any]:
    """One runner process; `kill` is ("seconds", S) or ("creates", N): SIGKILL after S seconds, or once
    the server has seen N new creates from it. None: run to the end."""
    started = time.time()
    before = len(_jobs(emu))
    unanswered_before = sum(not r["answered"] for r in _jobs(emu))
    log = (state.parent / f"worker-{time.monotonic_ns()}.log").open("w")
    command = [sys.executable, "-m", "tests.benchmarks.bench_crash", "--child", emu.url, str(state)]
    worker = subprocess.Popen(
        [*command, str(rows), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, cores()[1]),
    )
    killed = _kill_when(worker, emu, kill, before)
    log.close()
    if not killed and worker.returncode != 0:
        raise RuntimeError(f"worker failed: {Path(log.name).read_text()[-3000:]}")
    assert worker.stdout is not None
    marks = {line.split()[0]: float(line.split()[1]) for line in worker.stdout.read().splitlines() if line}
    jobs = _jobs(emu)
    return {
        "killed": killed,
        "wall_s": time.time() - started,
        "new_jobs": len(jobs) - before,
        "unanswered_jobs": sum(not r["answered"] for r in jobs) - unanswered_before,
        "to_open_s": marks["OPENED"] - started if "OPENED" in marks else None,
        "to_first_progress_s": marks["PROGRESS"] - started if "PROGRESS" in marks else None,
    }


def _kill_when(
    worker: subprocess.Popen[str], emu: Emulator, kill: tuple[str, float] | None, before: int
) -> bool:
    if kill is None:
        worker.wait(timeout=600)
        return False
    kind, amount = kill
    deadline = time.monotonic() + (amount if kind == "seconds" else 120)
    while worker.poll() is None and time.monotonic() < deadline:
        if kind == "creates" and len(_jobs(emu)) - before >= amount:
            break
        time.sleep(0.01)
    if worker.poll() is not None:
        return False
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    return True


def _scenario(name: str, mode: str, rows: int, kills: int, tmp: Path) -> dict[str, Any]:
    from rowrelay.tasks.state import load

    rng = random.Random(20261124 + len(mode))
    with emulator(*SCENARIOS[name]) as emu:
        state = tmp / f"{name}-{mode}" / "state"
        state.parent.mkdir(parents=True)
        started = time.time()
        plan: list[tuple[str, float]] = [
            ("seconds", rng.uniform(1.5, 9.0)) if name == "chaos" else ("creates", rng.randint(1, 40))
            for _ in range(kills)
        ]
        runs = [_run(emu, state, rows, mode, kill) for kill in plan]
        runs.append(_run(emu, state, rows, mode, None))
        total = time.time() - started
        listing = _jobs(emu)
        frame = load(state)
    jobs = Counter(r["metadata"]["rowrelay_row"] for r in listing)
    retried = Counter(r["metadata"]["rowrelay_row"] for r in listing if r["status"] in ENDED_ON_THE_SERVER)
    orphans = dict(zip(frame["row_key"], frame["orphans"], strict=True))
    attempts = dict(zip(frame["row_key"], frame["attempts"], strict=True))
    duplicates = {key: n - 1 - retried[key] for key, n in jobs.items() if n - 1 - retried[key] > 0}
    killed = sum(r["killed"] for r in runs)
    ended = frame["status"].isin(["completed", "failed", "incomplete", "cancelled", "orphaned", "expired"])
    restarts = runs[1:]
    return {
        "scenario": name,
        "mode": mode,
        "rows": rows,
        "kills": killed,
        "kills_inside_creates": sum(r["killed"] and r["unanswered_jobs"] > 0 for r in runs),
        "unanswered_jobs": sum(r["unanswered_jobs"] for r in runs),
        "rows_lost": rows - int(ended.sum()),
        "completed": int((frame["status"] == "completed").sum()),
        "paid_duplicates": sum(duplicates.values()),
        "paid_duplicates_per_kill": sum(duplicates.values()) / max(killed, 1),
        "paid_duplicates_share": sum(duplicates.values()) / rows,
        "uncounted_duplicates": sum(max(0, n - int(orphans.get(k, 0))) for k, n in duplicates.items()),
        "jobs_beyond_attempts": sum(max(0, n - int(attempts.get(k, 0))) for k, n in jobs.items()),
        "orphans_counted": int(sum(orphans.values())),
        "resume_to_open_median_s": median([r["to_open_s"] for r in restarts if r["to_open_s"] is not None]),
        "resume_to_first_progress_median_s": median(
            [r["to_first_progress_s"] for r in restarts if r["to_first_progress_s"] is not None]
        ),
        "total_s": total,
    }


HEADER = (
    "scenario", "mode", "kills (inside creates)", "rows lost", "uncounted dup.", "jobs > attempts",
    "paid duplicates (per kill, share; chaos target ≤ 2%)", "restart → progress",
)  # fmt: skip


def _line(r: dict[str, Any]) -> tuple[object, ...]:
    paid = f"{r['paid_duplicates']} ({r['paid_duplicates_per_kill']:.1f}, {r['paid_duplicates_share']:.1%})"
    return (
        r["scenario"], r["mode"], f"{r['kills']} ({r['kills_inside_creates']})", r["rows_lost"],
        r["uncounted_duplicates"], r["jobs_beyond_attempts"], paid,
        f"{r['resume_to_first_progress_median_s']:.2f} s",
    )  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        asyncio.run(_worker(argv[1], Path(argv[2]), int(argv[3]), argv[4]))
        return {}
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 rows")
    args = parser.parse_args(argv)
    rows, kills = (200 if args.quick else int(args.rows)), int(args.kills)
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        results = [
            _scenario(name, mode, rows, kills, Path(tmp)) for name in SCENARIOS for mode in ("poll", "stream")
        ]
    print(f"\ncrash cost: {rows:,} rows, {kills} SIGKILLs, then a run to the end")
    table([_line(r) for r in results], HEADER)
    failures = [
        f"{r['scenario']}/{r['mode']}: {what}"
        for r in results
        for what, bad in (
            ("rows lost", r["rows_lost"] > 0),
            ("uncounted duplicate jobs", r["uncounted_duplicates"] > 0),
            ("jobs beyond spent attempts", r["jobs_beyond_attempts"] > 0),
            ("no kill landed inside a create", r["scenario"] == "window" and r["kills_inside_creates"] == 0),
        )
        if bad
    ]
    result = {"rows": rows, "kills": kills, "scenarios": results, "failures": failures}
    write("crash", result)
    if failures:
        raise SystemExit("crash benchmark: " + "; ".join(failures))
    return result


if __name__ == "__main__":
    main()
