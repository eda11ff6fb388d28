"""A notebook cell awaiting `run_batch`, interrupted as Jupyter interrupts it (SIGINT to the kernel), in a
real kernel against the emulator over a real socket and a real Prefect API.

The cell ends in one line saying what the stop cancelled and that the same call resumes (it ended in an
87-line `CancelledError` traceback through Prefect, anyio and httpcore); `rowrelay cancel`, asked while
the kernel holds the batch, says to interrupt the kernel, not to kill it (killing it left the responses
running on the server); and the same call then resumes, every row paid for once per job it counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import holds_tokens, rowrelay
from tests.support.clock import ManualClock
from tests.support.duplicates import jobs_of
from tests.support.kernel import jupyter_kernel

ROWS = 10
SETUP = """
import pandas as pd
from rowrelay import run_batch
ids = [f"r{{i}}" for i in range({rows})]
frame = pd.DataFrame({{"id": ids, "text": [f"row {{i}}" for i in ids]}})
batch = dict(template="{{text}}", id_column="id", backend="emulator", base_url="{url}", state="{state}")
"""


def _until(condition: Callable[[], bool], what: str, within: float = 120) -> None:
    """Wait for `condition`; the cap only ends a hang (no assertion is made on how long it took)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_an_interrupted_cell_says_what_was_cancelled_in_one_line_and_the_same_call_resumes(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    env = {**prefect_env, "ROWRELAY_HOME": str(tmp_path / "home")}
    clock = ManualClock()  # each answer takes 120 s of it: rows stay in flight until the test moves it
    latency = EmulatorConfig(latency=LatencySpec.parse("fixed:120"))
    with (
        running_emulator(latency, clock=clock) as emu,
        jupyter_kernel(env, tmp_path, tmp_path / "kernels") as kernel,
    ):
        setup = kernel.run(SETUP.format(rows=ROWS, url=emu.url, state=state))
        assert setup.error is None, setup
        cell = kernel.start("result = await run_batch(frame, **batch)")
        _until(lambda: holds_tokens(state, ROWS), "every row in flight")

        refused = rowrelay(["cancel", str(state)], env)
        assert refused.returncode == 2, refused
        assert (
            f"that run is in a Jupyter kernel (pid {kernel.pid}): interrupt the cell awaiting it (the "
            f"notebook's Interrupt button, or `kill -INT {kernel.pid}`), or cancel the task it runs in "
            "(`task.cancel()`), and it cancels its in-flight responses itself; do not kill the kernel: that "
            "leaves them running, and billed, on the server"
        ) in refused.stderr, refused.stderr

        kernel.interrupt()
        stopped = kernel.finish(cell)
        assert stopped.error is not None, stopped
        assert stopped.error["ename"] == "CancelledError"
        said = (
            f"CancelledError: the batch run stopped: {ROWS} in-flight responses were cancelled; run the same "
            "call again to resume (it sends them again)"
        )
        assert stopped.error["traceback"] == [said]
        assert [line for line in stopped.shown if "Traceback" in line or "Crash" in line] == []
        assert {response["status"] for response in emu.emulator.listing()} == {"cancelled"}

        resumed = kernel.start("result = await run_batch(frame, **batch)\nresult.counts['completed']")
        _until(lambda: len(emu.emulator.listing()) == 2 * ROWS, "every row sent again")
        clock.advance(121)
        done = kernel.finish(resumed)
        assert done.error is None, done
        assert done.result == str(ROWS)
        jobs, unanswered = jobs_of(emu.url)
    frame = load(state)
    assert set(frame["status"]) == {"completed"}
    # Each row was sent twice, knowingly (the stop cut its first job short): both jobs are counted on it.
    assert (
        dict(zip(frame["row_key"], frame["attempts"], strict=True))
        == dict(jobs)
        == {f"r{i}": 2 for i in range(ROWS)}
    )
    assert unanswered.total() == 0
