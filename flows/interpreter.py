"""How rowrelay starts a Python process: this interpreter, with `-P`. Standard library only, so that
`flows/leash.py`, which runs before the command it starts and imports nothing else, shares the decision
with `flows/detached.py` (which re-exports both names for the modules that start processes)."""

from __future__ import annotations

import sys

__all__ = ["SAFE_PATH", "python"]

SAFE_PATH = {"PYTHONSAFEPATH": "1"}
"""`-P` for every Python process a started one starts in turn (the Prefect server's uvicorn, say)."""


def python(*args: str) -> list[str]:
    """A command running this interpreter on `args` with `-P`: a process rowrelay starts imports its
    modules from the installation, never from the working directory, where a user's `uvicorn.py` or
    `typer.py` would shadow them (the process failed to start, or ran the user's file)."""
    return [sys.executable, "-P", *args]
