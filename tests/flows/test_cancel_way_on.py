"""`rowrelay cancel STATE` after a `kill -9` said "run the batch again to resume the rest", but the rows it
cancelled stay `cancelled` (cancelled on request), which a run does not send again: the run it suggested
sent nothing and exited 1. Its way on now names `rowrelay retry STATE --status cancelled` first, and
doing what it says finishes the batch."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import IN_PROCESS, env_for, rowrelay, run_args, run_until_in_flight
from tests.support.clock import ManualClock
from tests.support.runs import creates_per_row
from tests.support.tickets import write_tickets

ROWS = 4


async def _while_time_passes(
    clock: ManualClock, call: Callable[[], subprocess.CompletedProcess[str]]
) -> subprocess.CompletedProcess[str]:
    """`call` in a thread while the emulator's clock moves on, so the jobs it creates end."""
    done = asyncio.ensure_future(asyncio.to_thread(call))
    while not done.done():
        clock.advance(5)
        await asyncio.sleep(0.2)
    return await done


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_cancel_after_a_kill_names_the_retry_its_cancelled_rows_need(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = write_tickets(tmp_path / "tickets.csv", ROWS), tmp_path / "state"
    clock = ManualClock()  # the jobs end only as the test moves time on
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        env = env_for(prefect_env, emu)
        run = run_until_in_flight(run_args(source, tmp_path), env, state, ROWS, tmp_path / "run.log")
        os.kill(run.pid, signal.SIGKILL)  # a crash: its rows' jobs run on
        run.wait()
        cancel = rowrelay(["cancel", str(state)], env, command=IN_PROCESS)
        assert cancel.returncode == 0, cancel.stderr[-3000:]
        assert cancel.stdout.strip() == (
            f"{ROWS} in-flight responses were cancelled; the cancelled rows stay cancelled, which a run "
            f"does not send again: `rowrelay retry {state} --status cancelled` makes them eligible again, "
            "then run the batch again to send them and the rest"
        )
        # What the old words said to do: the run sends nothing and exits 1.
        bare = rowrelay(run_args(source, tmp_path), env)  # warm, as a user's next run is
        assert bare.returncode == 1, bare.stderr[-3000:]
        assert sum(creates_per_row(emu).values()) == ROWS
        # What the new words say to do.
        retry = rowrelay(["retry", str(state), "--status", "cancelled"], env, command=IN_PROCESS)
        assert retry.returncode == 0, retry.stderr[-3000:]
        again = await _while_time_passes(clock, lambda: rowrelay(run_args(source, tmp_path), env))
        assert again.returncode == 0, again.stderr[-3000:]
        per_row = creates_per_row(emu)
    assert (load(state)["status"] == "completed").all()
    assert set(per_row.values()) == {2}, per_row  # the cancelled job, and the one sent again
