"""`run_batch` stopped from Python: by Ctrl-C under a loop the script drives itself, by a task's cancel,
by `asyncio.timeout` and by a TaskGroup, against the emulator over a real socket and a real Prefect API.

Every stop cancels the in-flight responses on the server, and each row's jobs there are the ones it
counted. Ctrl-C under `loop.run_until_complete` raised `KeyboardInterrupt` out of the loop with the
responses left running and the flow run `Running`; it now cancels them, as under `asyncio.run`, and the
`KeyboardInterrupt` says so. A cancel ends in the very `CancelledError`, carrying the one line a notebook
shows (`_render_traceback_`) and a script's traceback notes; timeouts and TaskGroups work as around any
coroutine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import holds_tokens
from tests.support.clock import ManualClock
from tests.support.duplicates import jobs_of

ROWS = 6
CANCELLED = (
    f"{ROWS} in-flight responses were cancelled; run the same call again to resume (it sends them again)"
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"r{i}" for i in range(ROWS)], "text": [f"row {i}" for i in range(ROWS)]})


def _batch(emu: RunningEmulator, state: Path) -> dict[str, Any]:
    return {
        "template": "{text}",
        "id_column": "id",
        "backend": "emulator",
        "base_url": emu.url,
        "state": str(state),
    }


def _held() -> Any:
    """An emulator whose answers take 120 s of a clock that stands still: every row stays in flight."""
    return running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120")), clock=ManualClock())


async def _in_flight(state: Path) -> None:
    """Until every row holds a durable response id; the cap only ends a hang."""
    deadline = time.monotonic() + 120
    while not holds_tokens(state, ROWS):
        assert time.monotonic() < deadline, "the rows never were all in flight"
        await asyncio.sleep(0.1)


def _each_row_paid_once_and_cancelled(emu: RunningEmulator, state: Path) -> None:
    """Every response cancelled on the server, and each row's one job there is the one attempt it counted."""
    assert {response["status"] for response in emu.emulator.listing()} == {"cancelled"}
    jobs, unanswered = jobs_of(emu.url)
    frame = load(state)
    assert dict(zip(frame["row_key"], frame["attempts"], strict=True)) == dict(jobs)
    assert set(jobs.values()) == {1}
    assert unanswered.total() == 0
    assert set(frame["status"]) == {"cancelled"}


@pytest.mark.timeout(300)
def test_ctrl_c_under_run_until_complete_cancels_the_responses_and_says_so(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    state = tmp_path / "state"
    # As in a plain script started from a terminal: a job started in the background (nohup, `&`, some
    # CI runners) starts with SIGINT ignored, which no handler of rowrelay's may take over.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    loop = asyncio.new_event_loop()

    async def ctrl_c_once_in_flight() -> None:
        await _in_flight(state)
        os.kill(os.getpid(), signal.SIGINT)  # what the terminal sends

    with _held() as emu:
        try:
            interrupter = loop.create_task(ctrl_c_once_in_flight())
            with pytest.raises(KeyboardInterrupt) as raised:
                loop.run_until_complete(run_batch(_frame(), **_batch(emu, state)))
            assert str(raised.value) == f"interrupted: {CANCELLED}"
            assert raised.value._render_traceback_() == [f"KeyboardInterrupt: interrupted: {CANCELLED}"]  # type: ignore[attr-defined]
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back
            _each_row_paid_once_and_cancelled(emu, state)
            assert interrupter.done()
        finally:
            _finish_what_was_left(loop)
            signal.signal(signal.SIGINT, ignored)


def _finish_what_was_left(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await what a Ctrl-C left pending on `loop` (the batch, under the old default handler)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.mark.timeout(300)
async def test_a_cancelled_call_ends_cancelled_in_the_very_cancelled_error_which_says_what_it_did(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    state = tmp_path / "state"
    seen: list[BaseException] = []

    async def cell() -> None:  # a notebook cell's task: the call awaited in it
        try:
            await run_batch(_frame(), **_batch(emu, state))
        except asyncio.CancelledError as exc:
            seen.append(exc)
            raise

    with _held() as emu:
        task = asyncio.create_task(cell())
        await _in_flight(state)
        task.cancel()  # what ipykernel does to the cell's task on Interrupt
        await asyncio.wait([task])
        assert task.cancelled()
        [stopped] = seen
        assert type(stopped) is asyncio.CancelledError
        line = f"the batch run stopped: {CANCELLED}"
        assert stopped._render_traceback_() == [f"CancelledError: {line}"]  # type: ignore[attr-defined]
        assert stopped.__notes__ == [line]
        _each_row_paid_once_and_cancelled(emu, state)


@pytest.mark.timeout(300)
async def test_asyncio_timeout_and_task_groups_stop_run_batch_as_any_coroutine(
    prefect_api: str, tmp_path: Path
) -> None:
    """A guard, not a fix: the line is said without changing the exception, whose exact type 3.11's
    `asyncio.timeout` and TaskGroup check."""
    from rowrelay.flows.batch import run_batch

    with _held() as emu:
        state = tmp_path / "timed"

        async def timed_out_once_in_flight() -> None:
            async with asyncio.timeout(None) as deadline:
                expire = asyncio.create_task(_in_flight(state))
                expire.add_done_callback(lambda _: deadline.reschedule(asyncio.get_running_loop().time()))
                await run_batch(_frame(), **_batch(emu, state))

        with pytest.raises(TimeoutError):
            await timed_out_once_in_flight()
        _each_row_paid_once_and_cancelled(emu, state)

    with _held() as emu:
        state = tmp_path / "grouped"

        async def fails_once_in_flight() -> None:
            await _in_flight(state)
            raise ValueError("another task of the group failed")

        async def grouped() -> None:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(run_batch(_frame(), **_batch(emu, state)))
                tasks.create_task(fails_once_in_flight())

        with pytest.raises(ExceptionGroup) as group:
            await grouped()
        assert [type(exc) for exc in group.value.exceptions] == [ValueError]
        _each_row_paid_once_and_cancelled(emu, state)
