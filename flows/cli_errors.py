"""How the command line reports a problem it refuses to go on with: one line on stderr, exit code 2.

One line, whatever the message holds (Arrow and pydantic texts may span several) and however narrow the
terminal: a script reading stderr gets `error: <what is wrong>` and nothing else, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from rowrelay.tasks.errors import DamagedFileError, StateError

USAGE_EXIT = 2
"""A usage, input or state error: nothing was sent (README, "Exit codes")."""
_err = Console(stderr=True)


def one_line(message: str) -> str:
    return " ".join(message.split())


def fail(message: str) -> NoReturn:
    """Print `error: message` as one line on stderr and exit 2."""
    # Text, not markup: a message may hold brackets (`rowrelay[agents]`) that rich would eat as styles.
    _err.print(Text.assemble(("error:", "red"), " ", one_line(message)), soft_wrap=True)
    raise typer.Exit(USAGE_EXIT)


def state_problem(exc: StateError, state: Path) -> str:
    """A state error as the command line says it: a damaged file comes with how to get past it."""
    if isinstance(exc, DamagedFileError):
        return (
            f"{exc.path}: {exc.reason}; run `rowrelay repair {state}` to move damaged files aside "
            "(`--dry-run` first shows which rows fall back to what)"
        )
    return str(exc)
