"""The lean reference of the tier-5 benchmark's stream mode, one run per process.

    python -m tests.benchmarks._lean_stream URL ROWS RPM WINDOW MAX_IN_FLIGHT

What one Python process can drive of the protocol with nothing of rowrelay's: uvloop, raw aiohttp with
keep-alive, orjson; a task per row creates a background response with `stream: true` under an aiolimiter
bucket holding WINDOW seconds of RPM (the server's own), reads its events (each decoded, as any client
that resumes from a `sequence_number` must) until a terminal one, and notes the wall-clock time it did.
A 429 sends the create again after the server's `retry-after` (it started no job). No state table, no
checkpoints, no progress, no budget beyond the one bucket and a semaphore of MAX_IN_FLIGHT.

Prints one JSON line: wall time, counts, peak RSS, CPU, and `recorded` (response id → the epoch second
the client saw it end), from which the benchmark takes the lag as it does from rowrelay's state table.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import uvloop

from tests.benchmarks._common import peak_rss_mb
from tests.benchmarks._workload import MODEL, cpu_seconds, prompt

_TERMINAL = {
    b"response.completed",
    b"response.failed",
    b"response.incomplete",
    b"response.cancelled",
    b"error",
}


async def run(url: str, rows: int, rpm: int, window: float, max_in_flight: int) -> dict[str, Any]:
    import aiohttp
    import orjson
    from aiolimiter import AsyncLimiter

    started = time.monotonic()
    limiter = AsyncLimiter(rpm / 60.0 * window, window)
    gate = asyncio.Semaphore(max_in_flight)
    recorded: dict[str, float] = {}
    calls = {"creates": 0, "throttled": 0, "events": 0, "failed": 0}
    headers = {"Authorization": "Bearer lean", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)

    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as http:

        async def one(i: int) -> None:
            body = orjson.dumps({"model": MODEL, "input": prompt(i), "background": True, "stream": True})
            async with gate:
                while True:
                    async with limiter:
                        calls["creates"] += 1
                        answer = await http.post(f"{url}/responses", data=body)
                    if answer.status != 429:
                        break
                    calls["throttled"] += 1
                    answer.release()
                    await asyncio.sleep(float(answer.headers.get("retry-after", "0.1")))
                async with answer:
                    if answer.status != 200:
                        calls["failed"] += 1
                        return
                    response_id = ""
                    async for line in answer.content:
                        if not line.startswith(b"data: "):
                            continue
                        event = orjson.loads(line[6:])
                        calls["events"] += 1
                        kind = event["type"].encode()
                        if kind == b"response.created":
                            response_id = event["response"]["id"]
                        if kind in _TERMINAL:
                            recorded[response_id] = time.time()
                            return

        await asyncio.gather(*(one(i) for i in range(rows)))
    return {
        "wall_s": time.monotonic() - started,
        "counts": {"completed": len(recorded), "failed": calls["failed"]},
        **calls,
        "polls": 0,
        "peak_rss_mb": peak_rss_mb(),
        "cpu_s": cpu_seconds(),
        "recorded": recorded,
    }


def main(argv: list[str]) -> None:
    url, rows, rpm, window, cap = argv[0], int(argv[1]), int(argv[2]), float(argv[3]), int(argv[4])
    print(json.dumps(uvloop.run(run(url, rows, rpm, window, cap))))


if __name__ == "__main__":
    main(sys.argv[1:])
