"""Dask runs' shared checks: the environment of a run on an emulator process, a run started as a process
of its own (to watch, kill or signal mid-run), the rows it holds in flight, and every job the server
started compared with what its row counted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from rowrelay.tasks.state import load
from tests.support.cli import IN_PROCESS, ROOT, sigint_as_from_a_terminal
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.emulator_process import EmulatorProcess
from tests.support.prefect_records import flow_run_on, logs_of


def statuses(emu: EmulatorProcess) -> list[str]:
    """Every job's status on the emulator, sorted."""
    return sorted(job["status"] for job in emu.get("/emulator/jobs")["data"])


def in_flight(emu: EmulatorProcess) -> int:
    """Responses the server is still working on."""
    return sum(status in ("queued", "in_progress") for status in statuses(emu))


def env_on(prefect_env: dict[str, str], emu: EmulatorProcess) -> dict[str, str]:
    return {**prefect_env, "ROWRELAY_BACKEND": "emulator", "ROWRELAY_BASE_URL": emu.url}


def assert_finished_and_paid_for(state: Path, emu: EmulatorProcess, rows: int) -> None:
    frame = load(state)
    assert len(frame) == rows
    assert set(frame["status"]) == {"completed"}, frame["status"].value_counts()
    started, unanswered = jobs_of(emu.url)
    assert_every_job_is_paid_for(frame, started, unanswered)


@contextlib.contextmanager
def started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`rowrelay ARGS` in its own process and session (its output in `log`), the whole session (the
    command, any LocalCluster it started and that cluster's workers) SIGKILLed when the block ends."""
    env = {**env, "PYTHONFAULTHANDLER": "1"}  # SIGABRT prints every thread's stack (`exit_code`)
    with log.open("wb") as out:
        run = subprocess.Popen(
            [*IN_PROCESS, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=sigint_as_from_a_terminal,
        )
        try:
            yield run
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def holding(state: Path) -> int:
    """Rows holding a response id still in flight."""
    if not (state / "batch.json").exists():
        return 0
    with contextlib.suppress(Exception):  # a read racing a compaction: ask again
        frame = load(state)
        waiting = frame["status"].isin(["queued", "in_progress"]) & frame["response_id"].notna()
        return int(waiting.sum())
    return 0


def assert_every_create_drew_on_the_one_budget(
    state: Path, servers: dict[str, tuple[EmulatorProcess, int]]
) -> None:
    """Every create each server saw (the ones it answered 429 too) was granted, for that server's
    endpoint and at its rate per minute, by the run's one budget on the scheduler, and the budget
    granted none that was not sent.
    How that budget keeps and uses a rate across workers is tests/llm/test_bank.py's to show, on a
    virtual clock; how closely sends keep it in wall time is bench_dask's to measure. Here a loaded CI
    machine delays sends and bunches them (15 429s of 175 creates, once, at a server enforcing its
    rate per second), which says nothing of whether the workers shared the budget."""
    granted = _granted(state)
    for name, (emu, rpm) in servers.items():
        creates = emu.get("/emulator/stats")["routes"]["POST /v1/responses"]
        assert granted.get(name) == (creates, rpm), (name, granted, creates)


def _granted(state: Path) -> dict[str, tuple[int, int]]:
    """Creates the run's shared budget granted, and at what rate a minute, by endpoint: the flow's own
    account of it in its logs."""

    said = said_in_flow_logs(state, "shared budget")
    assert len(said) == 1, said
    found = re.findall(r"(\w+) ([\d,]+) creates at ([\d,]+)/min", said[0])
    return {name: (int(count.replace(",", "")), int(rpm.replace(",", ""))) for name, count, rpm in found}


def said_in_flow_logs(state: Path, words: str) -> list[str]:
    """The lines of the run's flow logs (in Prefect) that hold `words`."""

    async def read() -> list[str]:
        run = await flow_run_on(state)
        return [each.message for each in await logs_of(run.id) if words in each.message]

    return asyncio.run(read())
