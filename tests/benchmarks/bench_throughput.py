"""Throughput: steady rows/s at zero latency, rowrelay against a lean client of the same protocol.

    .venv/bin/python -m tests.benchmarks.bench_throughput [--quick] [--sizes 2000 6000] [--runs 3]
        [--in-flight 500] [--sides lean rowrelay rowrelay-stream sdk] [--profile PATH]

Every measured run is a fresh child process on the runner core against a fresh emulator (`fixed:0`
latency, no limits) on its own core (tests/benchmarks/_common.py). The sides:
- `lean`: one asyncio process, raw aiohttp with keep-alive and orjson: a task per row creates a
  background response and polls it every 50 ms until it ends, `--in-flight` rows at a time, results in
  a dict, no checkpoints, no retries. The most a client of this protocol can do on one core.
- `rowrelay`: `open_session(...).runner.run()` over a fresh state table, checkpoints on (the defaults),
  `max_in_flight` = `--in-flight`, every limit out of the way; `rowrelay-stream` (not run unless named)
  the same in stream mode: each create streams its response's events, read to the terminal one.
- `sdk` (not run unless named): the lean loop through the official SDK's default transport.
Each run is timed from its first request to its last result; the marginal rate between the two sizes,
(N2 - N1) / (t2 - t1) over the median times t of `--runs` runs, cancels start-up and the tail, and is
quoted with rowrelay's ratio to the lean client. On a shared machine each process waits for a core as
often as it runs, so the wall figures move with the other work; CPU per row does not, and its ratio
(lean ÷ rowrelay) is what a run bound by the client's core would show. CPU is the child's process
time (threads included) over the run, per request the server counted. After each run the child also
times its own create and poll path alone (1,000 of each, 100 at a time) to split CPU per request by
kind; the rest of a run's CPU is per-row bookkeeping. `--profile PATH` adds one pyinstrument run of
rowrelay at the larger size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.benchmarks._common import emulator, median, run_child, table, write

MODEL = "gpt-4.1-mini"
LEAN_POLL = 0.05
CALIBRATION = 1000
_TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})


def prompt(i: int) -> str:
    return f"Classify support ticket {i}: the printer on floor {i % 7} jams on every second page."


# --- the children --------------------------------------------------------------------------------

Create = Callable[[int], Awaitable[str]]
Poll = Callable[[str], Awaitable[str]]


async def _calibrate(create: Create, poll: Poll) -> dict[str, float]:
    """CPU seconds per create and per poll of one client path, alone (100 at a time)."""
    gate = asyncio.Semaphore(100)

    async def timed(calls: list[Awaitable[str]]) -> tuple[float, list[str]]:
        async def one(call: Awaitable[str]) -> str:
            async with gate:
                return await call

        cpu = time.process_time()
        answers = await asyncio.gather(*(one(call) for call in calls))
        return (time.process_time() - cpu) / len(calls), list(answers)

    create_cpu, ids = await timed([create(i) for i in range(CALIBRATION)])
    await asyncio.sleep(0.2)  # all finished (zero latency): polls read completed responses
    poll_cpu, _ = await timed([poll(rid) for rid in ids])
    return {"cpu_ms_per_create_alone": create_cpu * 1000, "cpu_ms_per_poll_alone": poll_cpu * 1000}


async def _create_and_poll(create: Create, poll: Poll, rows: int, in_flight: int) -> dict[str, Any]:
    """The reference loop over any client: `in_flight` rows at once, each created in the background and
    polled every LEAN_POLL seconds until it ends; wall and CPU time, completions, and CPU per call."""
    gate = asyncio.Semaphore(in_flight)
    results: dict[int, str] = {}

    async def one(i: int) -> None:
        async with gate:
            response_id = await create(i)
            while True:
                await asyncio.sleep(LEAN_POLL)
                if (status := await poll(response_id)) in _TERMINAL:
                    results[i] = status
                    return

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(rows)))
    run = {"seconds": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}
    run["completed"] = sum(status == "completed" for status in results.values())
    return {**run, **await _calibrate(create, poll)}


async def _lean(url: str, rows: int, in_flight: int) -> dict[str, Any]:
    import aiohttp
    import orjson

    headers = {"Authorization": "Bearer lean", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:

        async def create(i: int) -> str:
            body = {"model": MODEL, "input": prompt(i), "background": True}
            async with http.post(f"{url}/responses", data=orjson.dumps(body)) as answer:
                answer.raise_for_status()
                return str(orjson.loads(await answer.read())["id"])

        async def poll(response_id: str) -> str:
            async with http.get(f"{url}/responses/{response_id}") as answer:
                answer.raise_for_status()
                return str(orjson.loads(await answer.read())["status"])

        return await _create_and_poll(create, poll, rows, in_flight)


async def _sdk(url: str, rows: int, in_flight: int) -> dict[str, Any]:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="sdk", max_retries=0)

    async def create(i: int) -> str:
        return (await client.responses.create(model=MODEL, input=prompt(i), background=True)).id

    async def poll(response_id: str) -> str:
        return str((await client.responses.retrieve(response_id)).status)

    run = await _create_and_poll(create, poll, rows, in_flight)
    await client.close()
    return run


async def _rowrelay(url: str, rows: int, in_flight: int, mode: str, profile: str | None) -> dict[str, Any]:
    from rowrelay.tasks.llm import RowRequest
    from rowrelay.tasks.llm.calls import BackgroundBackend
    from rowrelay.tasks.run import open_session
    from rowrelay.tasks.settings import Settings
    from rowrelay.tasks.state import StateTable

    state = Path(tempfile.mkdtemp(prefix="bench-throughput-")) / "state"
    table = StateTable.open(state, batch_id="bench")
    table.add_pending((f"row-{i:07d}", i, f"hash-{i}") for i in range(rows))
    table.flush()
    settings = Settings(
        backend="emulator",
        base_url=url,
        model=MODEL,
        mode=mode,
        rpm=10**7,
        tpm=10**12,
        poll_rpm=10**7,
        max_in_flight=in_flight,
    )
    session = open_session(settings, table, lambda key: prompt(int(key[4:])))
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="enabled", interval=0.001)
        profiler.start()
    started, cpu = time.perf_counter(), time.process_time()
    report = await session.runner.run()
    run = {"seconds": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}
    if profiler is not None:
        profiler.stop()
        Path(profile or "").write_text(profiler.output_text(unicode=True, color=False))  # noqa: ASYNC240  (once, after the run)
    run["completed"] = report.counts.get("completed", 0)
    backend = session.backend
    assert isinstance(backend, BackgroundBackend)

    async def create(i: int) -> str:
        request = RowRequest(f"cal-{i}", prompt(i), None, MODEL, {"rowrelay_batch": "cal"})
        return str((await backend.create(request)).response_id)

    async def poll(response_id: str) -> str:
        return (await backend.retrieve(response_id)).status

    run.update(await _calibrate(create, poll))
    await session.aclose()
    table.close()
    return run


def child(argv: list[str]) -> None:
    side, url, rows, in_flight = argv[0], argv[1], int(argv[2]), int(argv[3])
    if side == "lean":
        result = asyncio.run(_lean(url, rows, in_flight))
    elif side == "sdk":
        result = asyncio.run(_sdk(url, rows, in_flight))
    else:
        mode = "stream" if side == "rowrelay-stream" else "poll"
        result = asyncio.run(_rowrelay(url, rows, in_flight, mode, argv[4] if len(argv) > 4 else None))
    print(json.dumps(result))


# --- the driver ----------------------------------------------------------------------------------


def one_run(side: str, rows: int, in_flight: int, profile: Path | None = None) -> dict[str, Any]:
    extra = [str(profile)] if profile else []
    with emulator("--latency", "fixed:0") as emu:
        module = "tests.benchmarks.bench_throughput"
        run: dict[str, Any] = run_child(module, "--child", side, emu.url, str(rows), str(in_flight), *extra)
        routes = emu.stats()["routes"]
    # The calibration's own requests are not the run's.
    run["creates"] = routes.get("POST /v1/responses", 0) - CALIBRATION
    run["polls"] = routes.get("GET /v1/responses/{response_id}", 0) - CALIBRATION
    requests = run["creates"] + run["polls"]
    run["rows_per_s"] = rows / run["seconds"]
    run["cpu_ms_per_request"] = run["cpu_s"] / requests * 1000
    run["cpu_ms_per_row"] = run["cpu_s"] / rows * 1000
    run["polls_per_row"] = run["polls"] / rows
    return run


def summarise(runs: list[tuple[dict[str, Any], dict[str, Any]]], small: int, large: int) -> dict[str, Any]:
    """The marginal rate between the median times of the two sizes (each median resists a run that the
    machine's other work slowed), the per-run marginals, and medians of the larger size's figures."""
    small_s = median([little["seconds"] for little, _ in runs])
    large_s = median([big["seconds"] for _, big in runs])
    bigs = [big for _, big in runs]
    keys = (
        "rows_per_s", "cpu_ms_per_request", "cpu_ms_per_row", "polls_per_row", "cpu_ms_per_create_alone",
        "cpu_ms_per_poll_alone",
    )  # fmt: skip
    return {
        "marginal_rows_per_s": (large - small) / (large_s - small_s),
        "median_seconds": [small_s, large_s],
        "marginal_rows_per_s_runs": [(large - small) / (b["seconds"] - a["seconds"]) for a, b in runs],
        **{key: median([big[key] for big in bigs]) for key in keys},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return {}
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 6000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=500)
    parser.add_argument(
        "--sides",
        nargs="+",
        default=["lean", "rowrelay"],
        choices=["lean", "rowrelay", "rowrelay-stream", "sdk"],
    )
    parser.add_argument("--profile", type=Path, help="also profile one rowrelay run into this file")
    parser.add_argument("--quick", action="store_true", help="1,000 and 3,000 rows, one run")
    args = parser.parse_args(argv)
    small, large = (1000, 3000) if args.quick else args.sizes
    runs = 1 if args.quick else args.runs
    raw: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {side: [] for side in args.sides}
    for n in range(runs):  # interleaved, so drifting machine load hits every side alike
        for side in args.sides:
            pair = (one_run(side, small, args.in_flight), one_run(side, large, args.in_flight))
            raw[side].append(pair)
            print(
                f"run {n + 1}/{runs} {side}: {pair[0]['seconds']:.1f} s, {pair[1]['seconds']:.1f} s",
                flush=True,
            )
    sides = {side: summarise(pairs, small, large) for side, pairs in raw.items()}
    ratio = cpu_ratio = None
    if "lean" in sides and "rowrelay" in sides:
        ratio = sides["rowrelay"]["marginal_rows_per_s"] / sides["lean"]["marginal_rows_per_s"]
        cpu_ratio = sides["lean"]["cpu_ms_per_row"] / sides["rowrelay"]["cpu_ms_per_row"]
    if args.profile:
        one_run("rowrelay", large, args.in_flight, args.profile)
    print(
        f"\nthroughput: {small:,} and {large:,} rows, zero latency, {args.in_flight} in flight, {runs} run(s)"
    )
    table(
        [
            (
                side,
                f"{s['marginal_rows_per_s']:,.0f}",
                f"{s['cpu_ms_per_request']:.2f}",
                f"{s['cpu_ms_per_create_alone']:.2f}",
                f"{s['cpu_ms_per_poll_alone']:.2f}",
                f"{s['cpu_ms_per_row']:.2f}",
                f"{s['polls_per_row']:.2f}",
            )
            for side, s in sides.items()
        ],
        (
            "side",
            "marginal rows/s",
            "CPU ms/request",
            "ms/create alone",
            "ms/poll alone",
            "CPU ms/row",
            "polls/row",
        ),
    )
    if ratio is not None and cpu_ratio is not None:
        print(f"rowrelay ÷ lean (marginal rows/s): {ratio:.2f} (target >= 0.7)")
        print(f"lean ÷ rowrelay (CPU per row): {cpu_ratio:.2f}")
    if "lean" in sides and "rowrelay-stream" in sides:
        streamed, lean = sides["rowrelay-stream"], sides["lean"]
        result_stream = streamed["marginal_rows_per_s"] / lean["marginal_rows_per_s"]
        print(f"rowrelay-stream ÷ lean (marginal rows/s): {result_stream:.2f}")
        print(
            f"lean ÷ rowrelay-stream (CPU per row): {lean['cpu_ms_per_row'] / streamed['cpu_ms_per_row']:.2f}"
        )
    result = {"sizes": [small, large], "in_flight": args.in_flight, "runs": runs}
    result |= {"ratio": ratio, "cpu_ratio": cpu_ratio}
    write("throughput", {**result, "sides": sides, "raw": raw})
    return result


if __name__ == "__main__":
    main()
