"""Ctrl-C in a command's start, before its work began: one line and exit 130, never a traceback or silence.

Under Python's default handler, Ctrl-C raises `KeyboardInterrupt` wherever the main thread is. In a
command's first second that is an import (the CLI's, pandas', Prefect's) or the check of a run, and
it ended the command three ways, none of them said: a traceback of the import it cut (exit -2, killed
by SIGINT), typer's silent exit 130 (it turns a `KeyboardInterrupt` in a command into that), or, where
it landed inside a pydantic serializer Prefect's import runs, a 100-line `PydanticSerializationError:
Error calling function _ser_model: KeyboardInterrupt` and exit 1 (pydantic wraps what the callback
raised). So each step of a run's start either says `INTERRUPTED_AT_START` or, for the imports that
must not be cut (`ctrl_c_held`), takes the Ctrl-C as soon as they end. The CLI's own start (typer
building the app and parsing `run`'s options, importing the settings' model meanwhile) is held the
same way from the entry point (`hold_ctrl_c`) until `run`'s body lets go of it (`let_go_ctrl_c`).
Standard library only: the entry point and the warm hand-off (flows/warm.py) read it before anything
else is imported.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

__all__ = [
    "INTERRUPTED_AT_START",
    "Held",
    "ctrl_c_held",
    "ctrl_c_is_pythons",
    "hold_ctrl_c",
    "interrupted_at_start",
    "let_go_ctrl_c",
    "runs_a_batch",
]

INTERRUPTED_AT_START = "interrupted while checking the run, before anything started: nothing was sent"
"""What `rowrelay run` stopped before its batch's flow began says (the precheck's words, README's)."""


def runs_a_batch(argv: Sequence[str]) -> bool:
    """Whether the command line is `rowrelay run` (after -v, --verbose: as `warm.wanted` reads it)."""
    return next((arg for arg in argv if not arg.startswith("-")), None) == "run"


def interrupted_at_start(argv: Sequence[str]) -> str:
    """The line for a command interrupted before its work began: `run`'s own, or one for any other."""
    return (
        INTERRUPTED_AT_START if runs_a_batch(argv) else "interrupted while starting, before anything was done"
    )


class Held:
    """The Ctrl-Cs `ctrl_c_held` took while its block ran. (Not a dataclass: `dataclasses` imports
    `inspect`, 10 ms of the entry point's own imports, which no handler of ours covers.)"""

    def __init__(self) -> None:
        self.count = 0

    def _on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        self.count += 1


@contextlib.contextmanager
def ctrl_c_held(*, then_raise: bool = True) -> Iterator[Held]:
    """While the block runs, Ctrl-C is noted instead of raised in it; once it ends, one that came is
    `KeyboardInterrupt` (or, `then_raise=False`, only counted). For code a `KeyboardInterrupt` must not
    cut: an import whose pydantic serializer would wrap it, a line being made of the stop. Only under
    Python's default handler in the main thread; any other handler (asyncio's, a kernel's) is kept."""
    held = Held()
    if not ctrl_c_is_pythons():
        yield held
        return
    signal.signal(signal.SIGINT, held._on_sigint)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held.count and then_raise:
        raise KeyboardInterrupt()


def ctrl_c_is_pythons() -> bool:
    """Whether a Ctrl-C here is Python's to raise: in the main thread, under its default handler (any
    other, asyncio's or a kernel's, is kept, and a signal handler can be set from the main thread only)."""
    main = threading.current_thread() is threading.main_thread()
    return main and signal.getsignal(signal.SIGINT) is signal.default_int_handler


_held: list[Held] = []
"""The hold `hold_ctrl_c` put in place, while it lasts: process-wide, as the handler is."""


def hold_ctrl_c() -> None:
    """Hold Ctrl-C (as `ctrl_c_held` does) until `let_go_ctrl_c`: across code whose frames are not ours
    (typer's, between the entry point and `run`'s body), which turns a `KeyboardInterrupt` into a
    silent exit 130, or raises it out of the app as a traceback."""
    if not _held and ctrl_c_is_pythons():
        _held.append(Held())
        signal.signal(signal.SIGINT, _held[0]._on_sigint)


def let_go_ctrl_c(*, then_raise: bool = True) -> None:
    """End `hold_ctrl_c`'s hold (nothing where none is): Python's handler back, and a Ctrl-C that came
    meanwhile raised now as `KeyboardInterrupt` (or, `then_raise=False`, dropped)."""
    if not _held:
        return
    held = _held.pop()
    if signal.getsignal(signal.SIGINT) == held._on_sigint:  # a bound method: equal, not the same
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held.count and then_raise:
        raise KeyboardInterrupt()
