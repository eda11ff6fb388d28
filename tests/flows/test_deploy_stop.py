"""The serving process's SIGINT handler (flows/deploy_stop.py), fast and without a Prefect API: it reads
the flow-run processes from a real `prefect.runner.Runner` of the pinned Prefect (its private process
manager, which an upgrade may move: this test then fails in seconds, not only the slow served one), and a
failure after the stop was asked for (that lookup, or a `say` on a closed stderr) is one logged line,
never a lost SIGINT: asyncio had logged "Exception in callback" and the process went on serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from uuid import uuid4

import anyio
import pytest

from rowrelay.flows.deploy_stop import _flow_run_processes, _Stop, cancelled_quietly
from tests.support.said import Said

if TYPE_CHECKING:
    from prefect.runner import Runner

# A flow run's process that SIGINT ends as the default disposition does (-SIGINT), once it says it is ready.
_SLEEPER = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); print('ready', flush=True); "
    "time.sleep(120)",
]


def _runner() -> Runner:
    from prefect.runner import Runner

    return Runner(name=f"stop-{uuid4().hex[:8]}", pause_on_shutdown=False, limit=1)


@asynccontextmanager
async def _tracked_process(runner: Runner) -> AsyncIterator[anyio.abc.Process]:
    """A real process the runner's process manager tracks as a flow run's, as its starter adds one."""
    from prefect.runner._process_manager import ProcessHandle

    # Its own session: never in a terminal's foreground group, so SIGINT is passed on to it.
    process = await anyio.open_process(_SLEEPER, start_new_session=True)
    try:
        assert process.stdout is not None
        said = b""
        while not said.startswith(b"ready"):
            said += await process.stdout.receive()
        await runner._process_manager.add(uuid4(), ProcessHandle(process))
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_the_flow_run_processes_are_read_from_a_real_runner_of_the_pinned_prefect() -> None:
    runner = _runner()
    assert _flow_run_processes(runner) == []
    async with _tracked_process(runner) as process:
        assert _flow_run_processes(runner) == [process.pid]


async def _for_ever() -> None:
    """What the runner's serving is to its SIGINT: a task that ends only when cancelled."""
    await asyncio.Event().wait()


async def _sigint_to(stop: _Stop) -> asyncio.Task[None]:
    """A real SIGINT to this process, taken by `stop`'s handler on the running loop while `stop.task`
    serves (waits for ever); the task is given back once the handler has run."""
    serving = asyncio.create_task(_for_ever())
    stop.task = serving
    loop, handled = asyncio.get_running_loop(), asyncio.Event()

    def taken() -> None:  # what the loop calls on SIGINT: `stop`'s handler, raising or not
        try:
            stop.on_sigint()
        finally:
            handled.set()

    loop.add_signal_handler(signal.SIGINT, taken)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        await handled.wait()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return serving


def _closed_stderr(line: str) -> None:
    raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("failing", ["say", "lookup"])
async def test_a_failure_in_the_sigint_handler_still_stops_the_serving(failing: str) -> None:
    said, logger = Said(), logging.getLogger("rowrelay.deploy")
    logger.addHandler(said)
    lines: list[str] = []
    say: Callable[[str], None] = _closed_stderr if failing == "say" else lines.append
    runner = _runner()
    try:
        async with _tracked_process(runner) as process:
            if failing == "lookup":
                del runner._process_manager  # as moved by a Prefect upgrade
            serving = await _sigint_to(_Stop(runner, say))
            assert serving.cancelling() == 1  # the stop was asked for, whatever failed after
            with pytest.raises(asyncio.CancelledError):
                await serving
            if failing == "say":  # passed on before the line that failed
                assert await process.wait() == -signal.SIGINT
            else:  # nothing to pass it on to, as the runner's processes could not be read
                assert process.returncode is None
    finally:
        logger.removeHandler(said)
    failed = (
        "BrokenPipeError: [Errno 32] Broken pipe"
        if failing == "say"
        else "AttributeError: 'Runner' object has no attribute '_process_manager'"
    )
    assert said.messages == [f"rowrelay deploy: SIGINT: {failed}; stopping all the same"]
    assert lines == []


async def test_a_second_sigint_whose_line_fails_raises_nothing_and_cancels_once() -> None:
    said, logger = Said(), logging.getLogger("rowrelay.deploy")
    logger.addHandler(said)
    lines: list[str] = []
    stop = _Stop(_runner(), lines.append)
    try:
        serving = await _sigint_to(stop)
        stop.say = _closed_stderr
        stop.on_sigint()  # as the loop calls it for a second SIGINT
        assert serving.cancelling() == 1
        with pytest.raises(asyncio.CancelledError):
            await serving
    finally:
        logger.removeHandler(said)
    assert lines == ["rowrelay deploy: SIGINT, stopping (no run in progress); the schedule stays active"]
    assert said.messages == [
        "rowrelay deploy: SIGINT: BrokenPipeError: [Errno 32] Broken pipe; stopping all the same"
    ]


def _stopped_with_a_connection_open(quiet: bool) -> list[str]:
    """What asyncio's logger said when a loop serving a connection, its handler awaiting the peer, was
    stopped as Prefect's SIGTERM handler stops the serving one (`sys.exit(0)` within the loop: every task
    cancelled), with the serving loop's handler (`quiet`) or asyncio's own; and after it, one callback
    raising a real error."""
    said, logger = Said(), logging.getLogger("asyncio")
    logger.addHandler(said)

    async def main() -> None:
        if quiet:
            asyncio.get_running_loop().set_exception_handler(cancelled_quietly)
        handled = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handled.set()
            await reader.read(1)  # a flow-run process's control channel, open while the runner stops

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, _writer = await asyncio.open_connection("127.0.0.1", port)
        await handled.wait()
        raise SystemExit(0)  # Prefect's handle_sigterm

    try:
        with pytest.raises(SystemExit):
            asyncio.run(main())
        loop = asyncio.new_event_loop()
        if quiet:
            loop.set_exception_handler(cancelled_quietly)
        loop.call_soon(lambda: 1 / 0)
        loop.run_until_complete(asyncio.sleep(0.01))
        loop.close()
    finally:
        logger.removeHandler(said)
    return said.messages


# The connection is left open as the loop stops, as the stopped service's was: its writer is collected later.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_by_sigterm_with_a_connection_open_logs_no_traceback_and_other_errors_still_are() -> None:
    loud = _stopped_with_a_connection_open(quiet=False)
    assert len(loud) == 2, loud  # the cancelled connection's handler, then the division by zero
    quiet = _stopped_with_a_connection_open(quiet=True)
    assert len(quiet) == 1, quiet  # the division by zero alone
    assert "Exception in callback" in quiet[0]


def _exited_mid_poll(quiet: bool, cleanup_fails: bool = False) -> list[str]:
    """What asyncio's logger said when a SIGTERM landed mid-poll in Prefect's runner (`Runner.start`'s loops
    in one task group, `ScheduledRunPoller.run`'s poll in another within): Prefect's `sys.exit(0)` raised
    there, with the serving loop's handler (`quiet`) or asyncio's own; `asyncio.run`'s shutdown then
    reports the group each task ended with. `cleanup_fails`: another of the runner's loops raises a real
    error as it is cancelled."""
    said, logger = Said(), logging.getLogger("asyncio")
    logger.addHandler(said)

    async def polled_once() -> None:
        await asyncio.sleep(0)
        sys.exit(0)  # Prefect's handle_sigterm

    async def poller() -> None:
        async with anyio.create_task_group() as polls:
            polls.start_soon(polled_once)

    async def other_loop() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            if cleanup_fails:
                raise ValueError("a loop's own bug as it stops")

    async def start() -> None:
        if quiet:
            asyncio.get_running_loop().set_exception_handler(cancelled_quietly)
        async with anyio.create_task_group() as loops:
            loops.start_soon(poller)
            loops.start_soon(other_loop)

    try:
        with pytest.raises(SystemExit):
            asyncio.run(start())
    finally:
        logger.removeHandler(said)
    return said.messages


def test_a_sigterm_mid_poll_logs_no_traceback_and_a_real_error_there_still_is() -> None:
    loud = _exited_mid_poll(quiet=False)
    assert len(loud) == 2, loud  # each task's group: the runner's loops' and the poller's
    assert all("unhandled exception during asyncio.run() shutdown" in message for message in loud), loud
    assert _exited_mid_poll(quiet=True) == []
    said = _exited_mid_poll(quiet=True, cleanup_fails=True)
    assert len(said) == 2, said  # the failed loop's task, and the loops' group holding its bug
    assert all("a loop's own bug as it stops" in message for message in said), said
