"""Ctrl-C under an event loop nobody told about it: the run's task is cancelled, as `asyncio.run` does.

`asyncio.run` (and `asyncio.Runner`, which the CLI runs under) installs a SIGINT handler that cancels its
main task, so a stopped batch unwinds: its runner cancels the in-flight responses on the server and
checkpoints every row. A script that drives its own loop (`loop.run_until_complete(run_batch(...))`)
keeps Python's default handler, which raises `KeyboardInterrupt` wherever the main thread is: out of the
loop, the run's task left pending, its responses running (and billed) on the server and its Prefect
flow run `Running` for good (a trial). While a batch runs in the main thread under that default handler,
`ctrl_c_cancels` puts in one that does what `asyncio.Runner._on_sigint` does: the first Ctrl-C cancels
the batch's task and wakes the loop; the next one raises `KeyboardInterrupt` as Python would (and gives
the default handler back). A handler someone else installed (a Jupyter kernel's, asyncio's, the CLI's,
the user's own) is never replaced: each already stops the run its own way.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

__all__ = ["Interrupts", "ctrl_c_cancels"]


@dataclass
class Interrupts:
    """The Ctrl-Cs one batch's handler took (`ctrl_c_cancels`): `count` 0 when none came, or when the
    handler was not installed (someone else's handles them)."""

    count: int = 0


@dataclass
class _Watch:
    """The batches a handler of ours is stopping, and the handler it replaced (Python's default one)."""

    tasks: dict[asyncio.Task[Any], Interrupts] = field(default_factory=dict)
    replaced: object = None


_watch = _Watch()
"""Process-wide, as the handler is: two batches gathered under one loop are both stopped by one Ctrl-C."""


@contextlib.contextmanager
def ctrl_c_cancels(task: asyncio.Task[Any]) -> Iterator[Interrupts]:
    """While the block runs, Ctrl-C cancels `task` (the batch's), when SIGINT would otherwise raise
    `KeyboardInterrupt` out of the loop; the `Interrupts` say how many came."""
    interrupts = Interrupts()
    if not _may_handle():
        yield interrupts
        return
    if signal.getsignal(signal.SIGINT) is not _on_sigint:
        replaced = signal.getsignal(signal.SIGINT)
        try:
            signal.signal(signal.SIGINT, _on_sigint)
        except ValueError:  # an embedded interpreter whose main thread takes no signals (gh-91880)
            yield interrupts
            return
        _watch.replaced = replaced
    _watch.tasks[task] = interrupts
    try:
        yield interrupts
    finally:
        _watch.tasks.pop(task, None)
        if not _watch.tasks:
            _give_back()


def _may_handle() -> bool:
    """Asked as `asyncio.Runner` asks: only the main thread sets handlers, and only Python's default one
    is ours to replace. A handler of ours already in place is ours to share."""
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGINT)
    return current is signal.default_int_handler or current is _on_sigint


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """The first Ctrl-C cancels every batch still running (each unwinds, cancelling its responses); a
    second one, or one while no batch's loop is running (it was left with the loop stopped), is
    Python's `KeyboardInterrupt`, the default handler given back first."""
    running = {task: seen for task, seen in _watch.tasks.items() if not task.done()}
    first = all(seen.count == 0 for seen in running.values())
    loops = {task.get_loop() for task in running}
    for seen in running.values():
        seen.count += 1
    if running and first and all(loop.is_running() for loop in loops):
        for task in running:
            task.cancel()
        for loop in loops:  # wake a loop blocked in select() with a long timeout
            loop.call_soon_threadsafe(lambda: None)
        return
    _give_back()
    raise KeyboardInterrupt()


def _give_back() -> None:
    """Put the replaced handler back, if ours is still the one installed (never someone else's)."""
    if signal.getsignal(signal.SIGINT) is _on_sigint:
        signal.signal(signal.SIGINT, _watch.replaced)  # type: ignore[arg-type]  # what getsignal gave
