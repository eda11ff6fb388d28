"""A path or value as advice quotes it in a command: `rowrelay status 'état ü/big batch'`."""

from __future__ import annotations

import shlex

__all__ = ["shell_arg"]


def shell_arg(value: object) -> str:
    """`value` as a POSIX shell reads it back as one word: quoted where it holds spaces, quotes, accents
    or a shell's special characters, as is elsewhere. The lines that advise `rowrelay cancel STATE` and
    the like named the folder as it is, so the advice pasted for a folder with a space in its name ran
    on two arguments."""
    return shlex.quote(str(value))
