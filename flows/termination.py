"""How SIGTERM stops a command's run: raised as an exception (Prefect's `TerminationSignal`) wherever the
main thread is, and never lost on the way.

Prefect's handler, and `terminated_as_raised` around it, raise where the main thread happens to be. In a
coroutine the exception goes through the flow; in the event loop's own code it ends the loop. But when it
lands in a plain callback the loop runs (a timer, a future's done-callback: not a task's step), asyncio
catches it there (`Handle._run` lets only SystemExit and KeyboardInterrupt through) and hands it to the
loop's exception handler, which logs it, and the console's filter drops that record (`told_once`): the
run went on as if no signal had come, and a supervisor's SIGTERM was ignored until its SIGKILL (a warm
run in CI, still going 120 s after it). `SwallowedStop` takes such an exception back: the run's task is
cancelled, which unwinds it as a stop does (in-flight responses cancelled on the server), and the command
then reports the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def terminated_as_raised(raised: Callable[..., BaseException]) -> Iterator[None]:
    """While the run runs, SIGTERM raises `raised` (Prefect's `TerminationSignal`) here too, as Prefect's
    own handler does during a flow run.

    Prefect's handler raises wherever the main thread is. Usually that is the event loop, and the run
    unwinds through a cancellation. When it lands inside a coroutine (a row's poll), the exception goes
    through the flow, and Prefect then restores the handler it found and sends the signal again: the
    default one ended the process by the signal, before the command could say what happened (and exit
    143). This one raises it once more, up to the command."""

    def handler(signum: int, _frame: object) -> None:
        raise raised(signal=signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class SwallowedStop:
    """Watches the running loop for a `kind` exception (a termination signal) that a callback swallowed,
    and stops the task that called `guard` when one is: `signum` then says which signal it was."""

    def __init__(self, kind: type[BaseException]) -> None:
        self.kind = kind
        self.signum: int | None = None

    def guard(self) -> None:
        """From the run's coroutine: a `kind` the loop swallows from now on cancels this task."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if isinstance(exc, self.kind):
                log.debug("a %s raised in a callback, taken back as a stop", type(exc).__name__)
                if self.signum is None:
                    self.signum = getattr(exc, "signal", signal.SIGTERM)
                    task.cancel()
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)
