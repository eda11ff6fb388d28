"""Benchmark the emulator: create+poll throughput on one core, and memory with 100,000 held responses.

Run: `.venv/bin/python -m tests.benchmarks.bench_emulator [--seconds 5] [--runs 3] [--held 100000]`

The emulator runs in its own process pinned to core 0 (`taskset -c 0`, via sched_setaffinity); the load
comes from processes pinned to the other cores. The load generator is a minimal HTTP/1.1 keep-alive
client on raw asyncio streams (pure Python, no wrk needed), so that the client is not the bottleneck.
Each worker loops `POST /v1/responses` (background) then `GET /v1/responses/{id}`; every HTTP request
counts. Results are printed as a table and written to tests/benchmarks/results/emulator.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "benchmarks" / "results" / "emulator.json"
BODY = json.dumps({"model": "gpt-4.1-mini", "input": "Classify this ticket.", "background": True}).encode()


def start_emulator(core: int) -> tuple[subprocess.Popen[str], str, int]:
    """The emulator in its own process pinned to `core`; returns (process, host, port)."""
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "rowrelay.tasks.emulator", "--port", "0", "--latency", "fixed:0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://([\d.]+):(\d+)/v1", line)
    if match is None:
        process.kill()
        raise RuntimeError(f"emulator did not start: {line!r}")
    return process, match.group(1), int(match.group(2))


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=15)


# --- a minimal keep-alive HTTP/1.1 client -------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nhost: {self.host}\r\nauthorization: Bearer x\r\n"
        if body:
            head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _load(host: str, port: int, connections: int, seconds: float) -> tuple[int, int]:
    """Loop create+poll on `connections` keep-alive connections for `seconds`; count requests."""
    deadline = time.monotonic() + seconds
    counts = [0, 0]  # ok, errors

    async def worker() -> None:
        conn = await Connection.open(host, port)
        try:
            while time.monotonic() < deadline:
                status, payload = await conn.request("POST", "/v1/responses", BODY)
                counts[status != 200] += 1
                response_id = json.loads(payload)["id"]
                status, _ = await conn.request("GET", f"/v1/responses/{response_id}")
                counts[status != 200] += 1
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return counts[0], counts[1]


def _load_process(host: str, port: int, connections: int, seconds: float, cores: set[int], out: Any) -> None:
    os.sched_setaffinity(0, cores)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency, but the benchmark need not be
        pass
    out.put(asyncio.run(_load(host, port, connections, seconds)))


def throughput_run(seconds: float, generators: int, connections: int) -> dict[str, float]:
    cores = sorted(os.sched_getaffinity(0))
    load_cores = set(cores[1:]) or {cores[0]}
    process, host, port = start_emulator(cores[0])
    try:
        asyncio.run(_load(host, port, 4, 0.5))  # warm-up
        queue: Any = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(
                target=_load_process, args=(host, port, connections, seconds, load_cores, queue)
            )
            for _ in range(generators)
        ]
        cpu_before = psutil.Process(process.pid).cpu_times()
        started = time.monotonic()
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=seconds + 60) for _ in workers]
        elapsed = time.monotonic() - started
        for worker in workers:
            worker.join()
        cpu_after = psutil.Process(process.pid).cpu_times()
    finally:
        stop(process)
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    busy = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    # On a shared machine the load generator may not saturate the emulator's core; requests per
    # CPU-second of the emulator process is what one fully busy core would serve.
    return {
        "requests_per_s": ok / seconds,
        "requests_per_emulator_cpu_s": ok / max(busy, 1e-9),
        "errors": errors,
        "emulator_cpu": busy / elapsed,
    }


async def _fill(host: str, port: int, total: int, connections: int) -> int:
    created = 0

    async def worker(count: int) -> None:
        nonlocal created
        conn = await Connection.open(host, port)
        try:
            for _ in range(count):
                status, _ = await conn.request("POST", "/v1/responses", BODY)
                created += status == 200
        finally:
            conn.close()

    share = [total // connections + (i < total % connections) for i in range(connections)]
    await asyncio.gather(*(worker(n) for n in share))
    return created


def memory_run(held: int) -> dict[str, float]:
    cores = sorted(os.sched_getaffinity(0))
    process, host, port = start_emulator(cores[0])
    try:
        baseline = psutil.Process(process.pid).memory_info().rss
        started = time.monotonic()
        created = asyncio.run(_fill(host, port, held, 32))
        fill_seconds = time.monotonic() - started
        rss = psutil.Process(process.pid).memory_info().rss
    finally:
        stop(process)
    return {
        "held": created,
        "rss_mb": rss / 2**20,
        "baseline_rss_mb": baseline / 2**20,
        "bytes_per_response": (rss - baseline) / max(1, created),
        "fill_seconds": fill_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs (the median is reported)")
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections per generator")
    parser.add_argument("--held", type=int, default=100_000, help="responses held for the memory run")
    parser.add_argument("--label", default="", help="free text stored with the results (e.g. 'before')")
    args = parser.parse_args()

    runs = [throughput_run(args.seconds, args.generators, args.connections) for _ in range(args.runs)]
    median = statistics.median(run["requests_per_s"] for run in runs)
    per_cpu = statistics.median(run["requests_per_emulator_cpu_s"] for run in runs)
    memory = memory_run(args.held)
    result = {
        "label": args.label,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "throughput": {
            "median_requests_per_s": median,
            "median_requests_per_emulator_cpu_s": per_cpu,
            "target_requests_per_s": 2000,
            "runs": runs,
            "seconds": args.seconds,
            "generators": args.generators,
            "connections_per_generator": args.connections,
        },
        "memory": {**memory, "target_rss_mb": 500},
    }
    print(f"{'measure':<38}{'value':>14}{'target':>12}")
    print(
        f"{'create+poll requests/s (median of ' + str(args.runs) + ')':<38}{median:>14,.0f}{'>= 2,000':>12}"
    )
    print(f"{'  per CPU-second of the emulator':<38}{per_cpu:>14,.0f}")
    for i, run in enumerate(runs, 1):
        line = f"  run {i} (emulator CPU {run['emulator_cpu']:.0%}, errors {run['errors']:.0f})"
        print(f"{line:<38}{run['requests_per_s']:>14,.0f}")
    print(
        f"{'RSS with ' + format(memory['held'], ',.0f') + ' held responses (MB)':<38}"
        f"{memory['rss_mb']:>14,.1f}{'<= 500':>12}"
    )
    print(f"{'  bytes per held response':<38}{memory['bytes_per_response']:>14,.0f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
