"""The measured side of bench_inflight, one run per process (so VmHWM is that run's peak RSS).

    python -m tests.benchmarks._inflight_child rowrelay URL STATE_DIR ROWS POLL_RPM
    python -m tests.benchmarks._inflight_child sleepers ROWS

`rowrelay` plans ROWS rows and runs rowrelay's runner over them in poll mode with max_in_flight=ROWS
and creates out of the way (rpm, tpm), printing one JSON line per progress report (elapsed seconds,
rows in flight, creates, polls) until its parent stops it. `sleepers` is the floor of the pattern: a
bare asyncio program holding ROWS sleeping tasks, which prints its peak RSS once they all sleep.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.benchmarks._state_table import peak_rss_mb

MODEL = "gpt-4.1-mini"


async def run_rowrelay(url: str, state: Path, rows: int, poll_rpm: int) -> None:
    from rowrelay.tasks.records import HOLDING_TOKEN
    from rowrelay.tasks.run import Progress, open_session
    from rowrelay.tasks.settings import Settings
    from rowrelay.tasks.state import StateTable

    table = StateTable.open(state, batch_id="bench-inflight")
    table.add_pending((f"row-{i:07d}", i, f"hash-{i}") for i in range(rows))
    settings = Settings(
        backend="emulator",
        base_url=url,
        model=MODEL,
        mode="poll",
        rpm=10**7,
        tpm=10**12,
        poll_rpm=poll_rpm,
        max_in_flight=rows,
    )

    def progress(p: Progress) -> None:
        holding = sum(p.counts.get(status, 0) for status in HOLDING_TOKEN)
        line = {"t": p.elapsed, "in_flight": holding, "creates": p.counters.creates,
                "polls": p.counters.polls, "peak_rss_mb": peak_rss_mb()}  # fmt: skip
        print(json.dumps(line), flush=True)

    session = open_session(settings, table, lambda key: f"Summarise ticket {key}.", progress=progress)
    try:
        await session.runner.run()
    finally:
        await session.aclose()
        table.close()


async def run_sleepers(rows: int) -> None:
    tasks = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(rows)]
    await asyncio.sleep(0.5)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)
    for task in tasks:
        task.cancel()


def main() -> None:
    kind, *args = sys.argv[1:]
    if kind == "rowrelay":
        url, state, rows, poll_rpm = args
        asyncio.run(run_rowrelay(url, Path(state), int(rows), int(poll_rpm)))
    else:
        asyncio.run(run_sleepers(int(args[0])))


if __name__ == "__main__":
    main()
