"""The measured side of the emulator benchmarks, one run per process (so VmHWM is that run's peak RSS).

    python -m tests.benchmarks._workload rowrelay URL STATE_DIR ROWS MODE RPM MAX_IN_FLIGHT [PROFILE]
    python -m tests.benchmarks._workload baseline URL ROWS RPM MAX_IN_FLIGHT

`rowrelay` plans ROWS rows into a state table and runs rowrelay's runner over them (poll or stream).
`baseline` is the pattern as it is usually first written: an asyncio task per row that creates a
background response and polls it every 2 s, bounded by a semaphore and an aiolimiter request limit on
creates, results kept in a dict (no checkpoints; the SDK's default retries handle 429s). Both print one
JSON line: wall time from the first request's preparation to the last result, and peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import uvloop

from tests.benchmarks._common import peak_rss_mb

MODEL = "gpt-4.1-mini"
BASELINE_POLL = 2.0
ASYNC_MODES: dict[str, Literal["enabled", "disabled", "strict"]] = {
    "enabled": "enabled",
    "disabled": "disabled",
    "strict": "strict",
}
"""pyinstrument's async modes, for BENCH_PROFILE_ASYNC_MODE (an unknown one is a KeyError)."""


def cpu_seconds() -> float:
    """This process's CPU (user and system, every thread) so far: what a run costs its own core."""
    times = os.times()
    return round(times.user + times.system, 2)


def prompt(i: int) -> str:
    return f"Classify support ticket {i}: the printer on floor {i % 7} jams on every second page."


async def run_rowrelay(
    url: str, state: Path, rows: int, mode: str, rpm: int, max_in_flight: int, profile: str | None
) -> dict[str, Any]:
    from rowrelay.tasks.run import open_session
    from rowrelay.tasks.settings import Settings
    from rowrelay.tasks.state import StateTable

    started = time.monotonic()
    table = StateTable.open(state, batch_id="bench")
    table.add_pending((f"row-{i:07d}", i, f"hash-{i}") for i in range(rows))
    # tpm is set out of the way: the emulator enforces no token limit here, and rowrelay's estimate
    # (prompt + 1,024 output tokens when max_output_tokens is unset) would otherwise bind first.
    settings = Settings(
        backend="emulator",
        base_url=url,
        model=MODEL,
        mode=mode,
        rpm=rpm,
        tpm=10**12,
        poll_rpm=10**7,
        max_in_flight=max_in_flight,
    )
    session = open_session(settings, table, lambda key: prompt(int(key[4:])))
    profiler = None
    if profile:
        from pyinstrument import Profiler

        async_mode = ASYNC_MODES[os.environ.get("BENCH_PROFILE_ASYNC_MODE", "enabled")]
        profiler = Profiler(async_mode=async_mode, interval=0.001)
        profiler.start()
    try:
        report = await session.runner.run()
    finally:
        if profiler is not None:
            profiler.stop()
            Path(profile or "").write_text(profiler.output_text(unicode=True, color=False, show_all=True))  # noqa: ASYNC240  (once, after the run)
        await session.aclose()
        table.close()
    counters = report.counters
    return {
        "wall_s": time.monotonic() - started,
        "run_s": report.elapsed,
        "counts": {k: int(v) for k, v in report.counts.items()},
        "creates": counters.creates,
        "polls": counters.polls,
        "resumes": counters.resumes,
        "rate_limited": counters.rate_limited,
        "transient_errors": counters.transient_errors,
        "peak_rss_mb": peak_rss_mb(),
        "cpu_s": cpu_seconds(),
    }


async def run_baseline(url: str, rows: int, rpm: int, max_in_flight: int) -> dict[str, Any]:
    import openai
    from aiolimiter import AsyncLimiter

    started = time.monotonic()
    client = openai.AsyncOpenAI(base_url=url, api_key="baseline")
    limiter = AsyncLimiter(rpm, 60)
    gate = asyncio.Semaphore(max_in_flight)
    results: dict[int, str] = {}
    calls = {"creates": 0, "polls": 0}

    failed: dict[int, str] = {}

    async def one(i: int) -> None:
        async with gate:
            try:
                async with limiter:
                    calls["creates"] += 1
                    response = await client.responses.create(model=MODEL, input=prompt(i), background=True)
                while response.status in ("queued", "in_progress"):
                    await asyncio.sleep(BASELINE_POLL)
                    calls["polls"] += 1
                    response = await client.responses.retrieve(response.id)
            except openai.APIError as exc:  # kept, so that one timeout does not end the whole run
                failed[i] = type(exc).__name__
                return
            results[i] = response.output_text

    await asyncio.gather(*(one(i) for i in range(rows)))
    await client.close()
    return {
        "wall_s": time.monotonic() - started,
        "completed": len(results),
        "failed": len(failed),
        "failures": dict(Counter(failed.values())),
        **calls,
        "peak_rss_mb": peak_rss_mb(),
        "cpu_s": cpu_seconds(),
    }


def main(argv: list[str]) -> None:
    kind, url = argv[0], argv[1]
    if kind == "rowrelay":
        state, rows, mode, rpm, cap = Path(argv[2]), int(argv[3]), argv[4], int(argv[5]), int(argv[6])
        profile = argv[7] if len(argv) > 7 else None
        result = uvloop.run(run_rowrelay(url, state, rows, mode, rpm, cap, profile))  # as the CLI runs
    else:
        result = asyncio.run(run_baseline(url, int(argv[2]), int(argv[3]), int(argv[4])))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
