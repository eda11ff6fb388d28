"""The `rowrelay run` side of bench_inflight (`--through-cli`): the command a user runs, its Prefect flow
and its shards (ROWRELAY_SHARD_SIZE rows each, as many at once as --max-in-flight takes: 79503d2), holding
ROWS background responses in flight.

A CSV of ROWS rows goes to `rowrelay run --base-url EMULATOR --mode poll --max-in-flight ROWS --poll-rpm P`
with --rpm and --tpm out of the way, on the non-emulator cores, in a ROWRELAY_HOME of its own under a
temp dir, with `ROWRELAY_WARM=false`: the measured process is the command's own, not a warm runner's
fork. The home's local Prefect server is started first by a one-row run against an emulator of its own
at latency 0, so the measured command finds it running, as a user's second run does (a machine's first
run, which starts and migrates it, is bench_startup_run's).

From the command's start, the emulator's /emulator/counts is read every half second: its first create, all
ROWS in flight (`jobs`: the latency outlasts the run, so nothing ends) and its first poll are timed
(not /emulator/stats, which walks every response held, about 20 us each: read twice a second it took
most of the emulator's core once tens of thousands were held, and the creates measured fell from
1,800/s to 350/s, 440-487 s to 100,000 in flight). The
poll window opens once all are in flight and polled (the runner's side is polling by the time it reports
all in flight; the command's first poll came about 10 s after, in 2,000-row trials, which would count
as a low rate): the server's retrieve counter is read at both ends, the command's VmRSS at its start and
its VmHWM at its end, and the command is killed (SIGKILL: a stop would first cancel every response).
Its in-flight responses stay on the emulator, which bench_inflight then stops; `rowrelay services stop
--force` stops the home's services (the killed run may still be found using them) and
`stopped_afterwards` sweeps for anything left.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks._common import Emulator, cores, emulator
from tests.support.local_prefect import environment, stopped_afterwards

__all__ = ["measure_cli", "retrieves", "status"]

ROWRELAY = str(Path(sys.executable).with_name("rowrelay"))
MODEL = "gpt-4.1-mini"
RETRIEVE = "GET /v1/responses/{response_id}"
PATIENCE_S = 1800.0
"""Longest wait for all rows in flight before the measure is given up."""


def measure_cli(emu: Emulator, rows: int, poll_rpm: int, window: float) -> dict[str, Any]:
    """One `rowrelay run` holding `rows` in flight on `emu` (whose latency outlasts it), measured."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-inflight-cli-") as name,
        stopped_afterwards(Path(name) / "home") as home,
    ):
        tmp = Path(name)
        env = {
            **environment(home, tmp / "client-prefect"),
            "OPENAI_API_KEY": "bench",
            "ROWRELAY_WARM": "false",
        }
        try:
            _warm_up(tmp, env)
            return _measured(emu, _source(tmp / "in.csv", rows), rows, poll_rpm, window, tmp, env)
        finally:
            subprocess.run(
                [ROWRELAY, "services", "stop", "--force"], env=env, capture_output=True, timeout=120
            )


def _measured(
    emu: Emulator, source: Path, rows: int, poll_rpm: int, window: float, tmp: Path, env: dict[str, str]
) -> dict[str, Any]:
    log = tmp / "run.log"
    args = [
        "run", str(source), "--id-column", "id", "--template", "{text}", "--base-url", emu.url,
        "--model", MODEL, "--mode", "poll", "--max-in-flight", str(rows), "--rpm", str(10**8),
        "--tpm", str(10**11), "--poll-rpm", str(poll_rpm),
        "--state", str(tmp / "state"), "--output", str(tmp / "out.parquet"),
    ]  # fmt: skip
    jobs_before = int(emu.counts()["jobs"])
    _, others = cores()
    with log.open("w") as out:
        started = time.monotonic()
        run = subprocess.Popen(
            [ROWRELAY, *args], cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, others),
        )  # fmt: skip
    try:
        times = _in_flight(emu, run, log, (jobs_before, jobs_before + rows), started)
        rss_at_window = status(run.pid, "VmRSS")
        before, at = retrieves(emu), time.monotonic()
        time.sleep(max(0.0, at + window - time.monotonic()))
        after, until = retrieves(emu), time.monotonic()
        peak = status(run.pid, "VmHWM")
        stats = emu.counts()
        if run.poll() is not None:
            raise RuntimeError(f"rowrelay run ended in the window (exit {run.returncode}):\n{_tail(log)}")
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    polls_per_s = (after - before) / (until - at)
    return {
        "rows": rows,
        **times,
        "peak_rss_mb": peak,
        "rss_at_window_start_mb": rss_at_window,
        "emulator_held": stats["held"],
        "server_polls_per_s": polls_per_s,
        "poll_budget_per_s": poll_rpm / 60,
        "polls_over_budget": polls_per_s / (poll_rpm / 60),
        "window_s": until - at,
        "creates": int(stats["jobs"]) - jobs_before,
        "load_1m_at_end": os.getloadavg()[0],  # per side: the sitting's load moves between its sides
    }


def _in_flight(
    emu: Emulator, run: subprocess.Popen[bytes], log: Path, jobs: tuple[int, int], started: float
) -> dict[str, float]:
    """Seconds from the command's start to its first create, to all its rows in flight (the emulator's
    `jobs` past its count before the run, then reaching it plus the rows) and to its first poll, read
    every half second (the figures are that coarse); returned once all are in flight and polled."""
    before, target = jobs
    seen: dict[str, float] = {}
    polls_before = retrieves(emu)
    while (elapsed := time.monotonic() - started) < PATIENCE_S:
        if run.poll() is not None:
            raise RuntimeError(
                f"rowrelay run exited {run.returncode} before all were in flight:\n{_tail(log)}"
            )
        stats = emu.counts()
        created, polled = int(stats["jobs"]), stats["routes"].get(RETRIEVE, 0)
        for name, reached in (("first_create", created > before), ("all_in_flight", created >= target),
                              ("first_poll", polled > polls_before)):  # fmt: skip
            if reached:
                seen.setdefault(f"seconds_to_{name}", elapsed)
        if len(seen) == 3:
            return seen
        time.sleep(0.5)
    raise RuntimeError(f"not all in flight and polled after {PATIENCE_S:.0f} s:\n{_tail(log)}")


def _warm_up(tmp: Path, env: dict[str, str]) -> None:
    """A one-row run at latency 0: starts the home's Prefect server (and migrates its database) before the
    measured run, which then finds it running."""
    with emulator("--latency", "fixed:0") as quick:
        args = [
            "run", str(_source(tmp / "one.csv", 1)), "--id-column", "id", "--template", "{text}",
            "--base-url", quick.url, "--model", MODEL,
            "--state", str(tmp / "warm-state"), "--output", str(tmp / "warm-out.csv"),
        ]  # fmt: skip
        done = subprocess.run(
            [ROWRELAY, *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=600
        )
    if done.returncode != 0:
        raise RuntimeError(f"the warm-up run exited {done.returncode}:\n{done.stderr[-3000:]}")


def _source(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        writer.writerows((i, f"ticket {i} says hello") for i in range(rows))
    return path


def retrieves(emu: Emulator) -> int:
    """Polls the server has answered so far (its route counter)."""
    routes: dict[str, int] = emu.counts()["routes"]
    return routes.get(RETRIEVE, 0)


def status(pid: int, field: str) -> float:
    """A memory field of /proc/PID/status (VmRSS, VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]
