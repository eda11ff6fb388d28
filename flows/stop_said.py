"""What a batch run stopped from Python says: one line, as `rowrelay run` says it after Ctrl-C.

A notebook cell running `await run_batch(...)` that the user interrupts (Kernel > Interrupt: ipykernel
cancels the cell's task) was cancelled on the server and resumed correctly, but ended in an 87-line
`CancelledError` traceback through Prefect's engine, anyio and httpcore, which said neither what was
cancelled nor what to do next. The stopped call now says, on the exception it ends in:

    CancelledError: the batch run stopped: 20 in-flight responses were cancelled; run the same call
    again to resume (it sends them again)

The exception stays the very `CancelledError` asyncio raised, its type and arguments untouched:
`asyncio.timeout()` (3.11 checks `exc_type is CancelledError`), TaskGroups and anyio's cancel scopes (which
know their own cancels by the message) work around `run_batch` as around any coroutine, and the task still
ends cancelled. The line is said through IPython's hook for how an exception is shown: an object's
`_render_traceback_`, looked up on the instance (IPython 9, ipykernel 7: `showtraceback`), replaces the
traceback in the cell; a script's traceback gets it as the exception's note (PEP 678).

Ctrl-C under a loop the script drives itself is made a cancellation first (flows/ctrl_c.py), then ends as
Ctrl-C does in Python and under `asyncio.run`: in a `KeyboardInterrupt`, which carries the line.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rowrelay.flows.ctrl_c import ctrl_c_cancels
from rowrelay.tasks.run.stops import Cancelled, said_on_stop, stops_seen
from rowrelay.tasks.shell_words import shell_arg

__all__ = ["note_batch", "note_finished", "said_when_stopped"]

T = TypeVar("T")
_RESUME = "run the same call again to resume"


@dataclass
class _Progress:
    """How far the stopped call had come: what its runners cancelled as they stopped (`stops_seen`), the
    batch once it was known, and whether the flow body had returned."""

    stops: list[Cancelled]
    state_dir: Path | None = None
    output: Path | None = None
    on_workers: bool = False
    finished: bool = False
    began: float = field(default_factory=time.time)


_progress: contextvars.ContextVar[_Progress | None] = contextvars.ContextVar(
    "rowrelay_stop_progress", default=None
)


def note_batch(state_dir: Path, output: Path, *, on_workers: bool) -> None:
    """From the flow body: the batch this call runs, once known (`on_workers`: its rows run on Dask
    workers, whose runners say in their own logs what they cancelled)."""
    if (progress := _progress.get()) is not None:
        progress.state_dir, progress.output, progress.on_workers = state_dir, output, on_workers


def note_finished() -> None:
    """From the flow body, as it returns: the batch's output is written."""
    if (progress := _progress.get()) is not None:
        progress.finished = True


async def said_when_stopped(call: Callable[[], Awaitable[T]]) -> T:
    """Await `call()` (a batch flow's call, made only when awaited: a call never awaited is one
    coroutine that warns so, not two); if it is cancelled, say what the stop did in one line on the
    `CancelledError` itself, and turn a Ctrl-C taken by `ctrl_c_cancels` into `KeyboardInterrupt`."""
    task = asyncio.current_task()
    if task is None:  # not under asyncio (trio, say): nothing of ours to say or to cancel
        return await call()
    seen = stops_seen.get()
    progress = _Progress(stops=[] if seen is None else seen)
    progress_token = _progress.set(progress)
    # The CLI collects the stops for its own closing line; from Python, this call does.
    seen_token = stops_seen.set(progress.stops) if seen is None else None
    try:
        with ctrl_c_cancels(task) as interrupts:
            try:
                return await call()
            except asyncio.CancelledError as exc:
                line = _said(progress)
                if interrupts.count and task.cancelling() == 1:
                    # Our handler's cancel, and no one else's: Ctrl-C, as Python and asyncio.run end it.
                    # Uncancelled only then: another's cancel pending too (an `asyncio.timeout` firing
                    # at the same moment) keeps its count, so it takes the cancel as its own.
                    task.uncancel()
                    said = f"interrupted: {line}"
                    raise _told(KeyboardInterrupt(said), said) from None
                _told(exc, f"the batch run stopped: {line}")
                raise  # the very CancelledError: asyncio's own checks of it hold
    finally:
        if seen_token is not None:
            stops_seen.reset(seen_token)
        _progress.reset(progress_token)


def _told(exc: BaseException, said: str) -> BaseException:
    """`exc`, shown by IPython as the one line it is and says `said`, and noted with it for a plain
    traceback (unless its own text already is the line)."""
    shown = f"{type(exc).__name__}: {said}"
    exc._render_traceback_ = lambda: [shown]  # type: ignore[attr-defined]  # IPython's hook, by instance
    if str(exc) != said:
        exc.add_note(said)
    return exc


def _said(progress: _Progress) -> str:
    """The stop in a few words, and how to go on: what was cancelled, what may still run."""
    if progress.finished:
        return f"the batch had ended and written {progress.output}; {_RESUME} (it sends nothing again)"
    if progress.state_dir is None:
        return f"nothing was sent (it stopped before the batch started); {_RESUME}"
    if progress.on_workers:
        return f"the Dask workers cancelled their in-flight responses (their logs say how many); {_RESUME}"
    stops = progress.stops
    if not stops:
        return f"no row was in flight, so nothing was cancelled; {_RESUME}"
    if any(stop.unreached or stop.left for stop in stops):
        cancel = f"rowrelay cancel {shell_arg(progress.state_dir)}"
        return f"{said_on_stop(stops)}; `{cancel}` tries again, or {_RESUME}"
    again = " (it sends them again)" if any(stop.cancelled for stop in stops) else ""
    return f"{said_on_stop(stops)}; {_RESUME}{again}"
