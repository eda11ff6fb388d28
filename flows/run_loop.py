"""The event loop `rowrelay run` runs its batch under: uvloop's, with a SIGINT handler that never raises.

asyncio's runner took the first Ctrl-C as a cancel of the run's task (its in-flight responses then
cancelled on the server), and raised `KeyboardInterrupt` for the second wherever the loop was: in a
task (the state table's group commit mid-write, whose task kept it: "Task exception was never
retrieved"), or in a transport's callback, which uvloop logged as a fatal error on it, tracebacks
either way. Its close then cancelled every task left under Python's handler again, so a third Ctrl-C
10 ms later cut that short too: the loop closed with its tasks pending and the command printed some
1,300 lines (`Unhandled exception in event loop`, `RuntimeError: Event loop is closed` from uvloop's
and aiohttp's callbacks). Here every Ctrl-C cancels the run's task: the first its work, the second
the cancelling of it (which the runner takes as "stop the cancelling", saying what it left), and from
the third on the command says once that it is already stopping (`ALREADY_STOPPING`) and lets the
stop and the loop's close end. The first also tells the run's Chat Completions creates on the wire to
wait for their answers, which the second cuts (`run.answers_awaited`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

from rowrelay.flows.start_ctrl_c import ctrl_c_is_pythons
from rowrelay.tasks.run.answers_awaited import AnswersAwaited, answers_awaited

T = TypeVar("T")

__all__ = ["ALREADY_STOPPING", "run_loop"]

ALREADY_STOPPING = (
    "interrupted again: already stopping; the run is ending its tasks and writing its state table, "
    "and exits once they end"
)


class _CtrlC:
    """The run's SIGINT handler: the first Ctrl-C cancels the run's task (its work), the second every
    task (the cancelling of that work too: `Runner._cancel_in_flight`), and the third and later say
    once that the run is already stopping. None is raised: the loop, its callbacks and the runner's
    close run on."""

    def __init__(self) -> None:
        self.count = 0
        self.task: asyncio.Task[Any] | None = None
        self.waits = AnswersAwaited()
        self._said = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        task = self.task
        if task is None:  # before the run's task began: it ends as it begins (`_started`)
            return
        if self.count > 2 or (task.done() and self.count > 1):
            # Not cancelled again: a cancel landing in Prefect's engine as it records the flow run's end
            # left it `Running` on the server ("Finished in state Running()").
            self._say_stopping()
        elif not task.done():
            # The second: every task, as the runner's close would once asyncio's KeyboardInterrupt was
            # out of the loop. The run's task alone did not reach the runner's cancelling (a shard's
            # task of its own, below Prefect's engine), which ran on to its end.
            loop = task.get_loop()
            if self.count == 1:
                self.waits.asked(loop)  # chat creates on the wire are waited for, said at once
            for each in asyncio.all_tasks(loop) if self.count > 1 else {task}:
                each.cancel()
            loop.call_soon_threadsafe(lambda: None)  # wake a loop blocked in select()

    def _say_stopping(self) -> None:
        if not self._said:
            self._said = True
            # Not print(): a handler may run while the main thread is inside stderr's own write.
            with contextlib.suppress(OSError):
                os.write(2, f"{ALREADY_STOPPING}\n".encode())


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """`uvloop.run(main)`, Ctrl-C taken as above: a run stopped by it raises `KeyboardInterrupt`, once
    its task and the loop's close have ended."""
    import uvloop  # the run's loop: its callbacks cost 5-8% less CPU than asyncio's (RESULTS.md)

    ctrl_c = _CtrlC()

    async def started() -> T:
        ctrl_c.task = asyncio.current_task()
        answers_awaited.set(ctrl_c.waits)  # the run's own context: gone with its task
        if ctrl_c.count:  # Ctrl-C as the loop started: nothing of the run has begun
            main.close()
            raise KeyboardInterrupt()
        return await main

    ours = ctrl_c_is_pythons()
    if ours:  # else asyncio.Runner keeps the handler there, as `asyncio.run` does
        signal.signal(signal.SIGINT, ctrl_c)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            try:
                return runner.run(started())
            except asyncio.CancelledError:
                if ctrl_c.count:  # stopped by Ctrl-C (the task ends as a cancel): as asyncio.run says it
                    raise KeyboardInterrupt() from None
                raise
    finally:
        if ours and signal.getsignal(signal.SIGINT) is ctrl_c:
            signal.signal(signal.SIGINT, signal.default_int_handler)
