"""One SIGINT to the `rowrelay deploy` process stops it as Ctrl-C from its terminal does.

Ctrl-C in a terminal reaches the whole process group: each flow-run process Prefect's runner started gets
SIGINT and stops its run (its in-flight responses cancelled on the server, the rows left for the next
run), while the serving process stops its runner, which waits for those processes to end (30 s at most,
below). `kill -INT PID` (Docker's `STOPSIGNAL SIGINT`, a script's stop) reaches the serving process
alone: it said nothing, its runner waited for the run in progress to end on its own (a 100-row run went
on two minutes, runs due meanwhile never started, and Docker's SIGKILL after 10 s left the responses
running and billed), and a second SIGINT was asyncio's `KeyboardInterrupt` raised wherever the loop was,
two tracebacks.

`served_until_stopped` runs the runner with a SIGINT handler of its own: the first SIGINT stops the runner
as asyncio's own handler does (its main task cancelled), passes SIGINT on to each flow-run process (as the
terminal would have) and says one line; a later one says it is stopping already and raises nothing. The
stop is asked for first, and what follows it is guarded: a failure there (Prefect's private process
manager moved by an upgrade, a closed stderr) is one logged line, where it had asyncio log "Exception in
callback" and the process went on serving, the SIGINT lost.

The runner does not wait for those processes without end: as it stops, it stops each flow-run process it
still tracks (Prefect's `ProcessManager.__aexit__`, 3.8.8): SIGTERM, then SIGKILL to one still alive
30 s later. A stop whose cancels take longer than 30 s is cut short there, and the responses not
cancelled by then go on running, and billed, on the server. SIGTERM to the serving process stays
Prefect's runner's (flows/deploy.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.runner import Runner

__all__ = ["cancelled_quietly", "served_until_stopped"]

log = logging.getLogger("rowrelay.deploy")


def served_until_stopped(runner: Runner, say: Callable[[str], None]) -> None:
    """Serve `runner` until it stops: SIGINT (as above) or SIGTERM (Prefect's)."""
    stop = _Stop(runner, say)
    try:
        asyncio.run(stop.serving())
    except asyncio.CancelledError:
        if not stop.asked:  # cancelled by something other than a SIGINT: not ours to swallow
            raise


@dataclass
class _Stop:
    runner: Runner
    say: Callable[[str], None]
    asked: int = 0
    """SIGINTs received so far."""
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def serving(self) -> None:
        self.task = asyncio.current_task()  # this coroutine's, run by `asyncio.run`
        loop = asyncio.get_running_loop()
        # On the loop, not as a plain `signal.signal` handler: the stop then runs between callbacks, never
        # in the middle of one. Only the main thread takes signals (a thread's serve keeps Prefect's way).
        if threading.current_thread() is threading.main_thread():
            loop.add_signal_handler(signal.SIGINT, self.on_sigint)
        loop.set_exception_handler(cancelled_quietly)
        await self.runner.start()

    def on_sigint(self) -> None:
        self.asked += 1
        if self.asked == 1:
            # First, before anything that can fail: the cancel takes effect at the task's next step, after
            # this handler returns, so the processes are still the runner's to read and pass SIGINT on to.
            assert self.task is not None
            self.task.cancel()
        try:
            self._passed_on_and_said()
        except Exception as exc:  # in a loop callback, raised is only asyncio's "Exception in callback"
            log.warning("rowrelay deploy: SIGINT: %s: %s; stopping all the same", type(exc).__name__, exc)

    def _passed_on_and_said(self) -> None:
        pids = _flow_run_processes(self.runner)
        if self.asked > 1:
            waiting = ", waiting for the run in progress to cancel its responses and end" if pids else ""
            self.say(f"rowrelay deploy: stopping already{waiting}")
            return
        foreground = _terminals_foreground()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                # A Ctrl-C reached the terminal's foreground group whole: sent again, the process would take
                # it for a second Ctrl-C, which aborts its run mid-cancel (seen: "aborted by an interrupt
                # signal").
                if os.getpgid(pid) != foreground:
                    os.kill(pid, signal.SIGINT)
        what = (
            "the run in progress (its in-flight responses are cancelled, the next run sends them again), "
            "then this process"
            if pids
            else "(no run in progress)"
        )
        self.say(f"rowrelay deploy: SIGINT, stopping {what}; the schedule stays active")


def cancelled_quietly(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The serving loop's handler of errors no one awaited: a task stopped as the process stops is not
    one. Prefect's SIGTERM handler exits (`sys.exit(0)`) from within the loop, which then cancels every
    task; a control-channel connection of a flow-run process still open then ended in asyncio's
    "Exception in callback" (its stream's callback asks the cancelled task for its exception), a 60-line
    traceback of `SystemExit: 0` and `CancelledError` in every stopped service's log (the trial's SIGTERM,
    and CI's deployment test, seen when a flow run's connection was still open). A SIGTERM landing while
    the runner's poller of scheduled runs is mid-request raises that `SystemExit` in the poller's task
    group, and `asyncio.run`'s shutdown logged the group each task ended with as "unhandled exception",
    two tracebacks of 60 lines (ci130). Anything else is asyncio's to say."""
    if not _a_stop(context.get("exception")):
        loop.default_exception_handler(context)


def _a_stop(exc: BaseException | None) -> bool:
    """Whether `exc` is a task's end as the process stops: cancelled, exited, or a task group's errors
    that are all of those."""
    stops = (asyncio.CancelledError, SystemExit)
    if isinstance(exc, BaseExceptionGroup):
        _, others = exc.split(stops)
        return others is None
    return isinstance(exc, stops)


def _terminals_foreground() -> int | None:
    """The process group this process's controlling terminal sends its Ctrl-C to, or None without one (a
    service, a container without a terminal, `setsid`). A SIGINT sent by `kill` to this process alone
    while it runs in a terminal's foreground cannot be told from a Ctrl-C there: it is not passed on."""
    try:
        terminal = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return None
    try:
        return os.tcgetpgrp(terminal)
    except OSError:
        return None
    finally:
        os.close(terminal)


def _flow_run_processes(runner: Runner) -> list[int]:
    """The pids of the flow-run processes `runner` has going. Its process manager is what the runner's own
    shutdown and cancellations go through; the runner rebinds it as it starts, so it is read at the time
    (pinned with Prefect, 3.8.8)."""
    manager = runner._process_manager  # Prefect's runner keeps no public list
    handles = [manager.get(flow_run) for flow_run in manager.flow_run_ids()]
    return [handle.pid for handle in handles if handle is not None and handle.pid is not None]
