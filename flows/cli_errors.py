"""How the command line reports a problem it refuses to go on with: one line on stderr, exit code 2.

One line, whatever the message holds (Arrow and pydantic texts may span several) and however narrow the
terminal: a script reading stderr gets `error: <what is wrong>` and nothing else, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from rowrelay.tasks.errors import DamagedFileError, LeaseHeldError, StateError

USAGE_EXIT = 2
"""A usage, input or state error: nothing was sent (README, "Exit codes")."""
_err = Console(stderr=True)


def one_line(message: str) -> str:
    return " ".join(message.split())


def fail(message: str, code: int = USAGE_EXIT) -> NoReturn:
    """Print `error: message` as one line on stderr and exit with `code` (2: a usage error)."""
    # Text, not markup: a message may hold brackets (`rowrelay[agents]`) that rich would eat as styles.
    _err.print(Text.assemble(("error:", "red"), " ", one_line(message)), soft_wrap=True)
    raise typer.Exit(code)


HELD_BY_A_RUN = "wait for that run to end (or stop it), then try again"
"""What to do about a batch a live run holds, for a command that changes the state table."""


def state_problem(exc: StateError, state: Path, *, held: str = HELD_BY_A_RUN) -> str:
    """A state error as the command line says it, with how to get past it: a damaged file, or a batch a
    live run holds (`held` says what to do about that run)."""
    if isinstance(exc, DamagedFileError):
        return (
            f"{exc.path}: {exc.reason}; run `rowrelay repair {state}` to move damaged files aside "
            "(`--dry-run` first shows which rows fall back to what)"
        )
    if isinstance(exc, LeaseHeldError):
        return f"{exc}; {held}"
    return str(exc)


@contextlib.contextmanager
def told_once(
    *reported: type[BaseException], signals: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """While the block runs, the console leaves out Prefect's records of the `reported` exceptions, which
    the command tells in its own one line (`ReportedByTheCommand`), and any logger's records of `signals`."""
    quiet = ReportedByTheCommand(reported, signals)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


_STOPPED = (
    "Execution was cancelled by the runtime environment.",
    "Execution was aborted by an interrupt signal.",
    "Execution was aborted by a termination signal.",
)
"""How Prefect's engine words the crashed state of task and flow runs stopped by Ctrl-C or SIGTERM
(`prefect.states.exception_to_crashed_state`): it logs each run as "Crash detected!" (ERROR), then as
finished Crashed, four lines that read as a failure above the command's own "interrupted: ..." line."""


class ReportedByTheCommand(logging.Filter):
    """For the console's handler during a run: drops Prefect's records of an exception the command
    reports itself in one line (`reported`: a usage or state problem, a refusal by the backend).

    Prefect logs a failed task and flow run twice each, with the traceback and then its final state; they
    still reach the flow run's logs on the Prefect server (another handler), only not the console, where
    seventy lines of traceback hid the one line that says what to do. The final-state records carry no
    exception, only its text, so the text of each exception seen is remembered and matched.

    `signals` (Prefect's `TerminationSignal`) are dropped from every logger, by their exception alone:
    Prefect raises SIGTERM as one wherever the main thread is, and when that is inside a socket write
    asyncio logs it as a "Fatal write error" with its traceback, though it is only the signal the user
    sent, which the command reports ("terminated: ..."); so are Prefect's records of the runs it stopped
    (`_STOPPED`)."""

    def __init__(
        self, reported: tuple[type[BaseException], ...], signals: tuple[type[BaseException], ...] = ()
    ) -> None:
        super().__init__()
        self.reported = reported
        self.signals = signals
        self.texts: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if self.signals and isinstance(exc, self.signals):
            return False
        if not record.name.startswith("prefect."):
            return True
        message = record.getMessage()
        if self.signals and any(text in message for text in _STOPPED):
            return False  # "Crash detected!" for a run the user stopped, which the command says itself
        if isinstance(exc, self.reported):
            if str(exc):  # an empty text would match every later record
                self.texts.add(str(exc))
            return False
        return not any(text in message for text in self.texts)
