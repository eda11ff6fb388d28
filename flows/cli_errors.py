"""How the command line reports a problem it refuses to go on with: one line on stderr, exit code 2.

One line, whatever the message holds (Arrow and pydantic texts may span several) and however narrow the
terminal: a script reading stderr gets `error: <what is wrong>` and nothing else, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from rowrelay.tasks.console_filter import ReportedByTheCommand
from rowrelay.tasks.errors import DamagedFileError, LeaseHeldError, MissingVersionsError, StateError
from rowrelay.tasks.records import one_line
from rowrelay.tasks.shell_words import shell_arg
from rowrelay.tasks.state_folder_errors import StateWriteError

USAGE_EXIT = 2
"""A usage, input or state error: nothing was sent (README, "Exit codes")."""
_err = Console(stderr=True)


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
    from rowrelay.tasks.state.files import BATCH_FILE  # the table's package: not for `--help`

    if isinstance(exc, MissingVersionsError):
        return (
            f"{exc}; run `rowrelay repair {shell_arg(state)}`"
            " to accept the loss knowingly (`--dry-run` first shows "
            "which rows may have lost their latest version, and may have a job on the server)"
        )
    if isinstance(exc, DamagedFileError) and Path(exc.path).name == BATCH_FILE:
        return (
            f"{exc.path}: {exc.reason}; run `rowrelay repair {shell_arg(state)}`"
            " to write it again (no row's state is "
            "in it: every row, and the responses already paid for, are kept)"
        )
    if isinstance(exc, DamagedFileError):
        return (
            f"{exc.path}: {exc.reason}; run `rowrelay repair {shell_arg(state)}` to move damaged files aside "
            "(`--dry-run` first shows which rows fall back to what)"
        )
    if isinstance(exc, LeaseHeldError):
        return exc.said(held)  # this command's way on, for the run's the error carries
    return said_by_the_command(exc)


def said_by_the_command(exc: BaseException) -> str:
    """`exc`'s text as the command running says it: a state folder that cannot be written in that
    command's words (`StateWriteError.said`), where `retry`, `cancel` and `repair` said the run's "so
    the run stopped ... the same command resumes them", having stopped no run."""
    if isinstance(exc, StateWriteError):
        return exc.said(command_running())
    return str(exc)


def command_running() -> str:
    """The rowrelay command this process runs (`retry`), as the command line named it (`running`): each
    command that writes the table is told apart without every caller naming itself. `run` outside the
    command line (a run from Python, a deployment's run), which is the only other writer of a table."""
    return _COMMAND.get()


def running(command: str | None) -> Callable[[], None]:
    """Note `command` as the one this process runs (`command_running`); returns what forgets it again,
    for when the command ends (a test's next command in the same process is its own)."""
    token = _COMMAND.set(command or "run")
    return lambda: _COMMAND.reset(token)


_COMMAND: ContextVar[str] = ContextVar("rowrelay_command", default="run")


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
