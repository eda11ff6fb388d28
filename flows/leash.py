"""Run a command that dies with the process that started it, however that process ends (SIGKILL included):

    python -m rowrelay.flows.leash PARENT_PID COMMAND [ARG...]

On Linux this process asks the kernel for SIGTERM when its parent dies (`prctl(PR_SET_PDEATHSIG)`),
checks that the parent is still PARENT_PID (it may have died before the request was made), and then
becomes COMMAND (`exec`: the setting survives it, so the command itself is leashed, with no process in
between). The kernel sends the signal when the *thread* that started the child ends, so start it from the
main thread, which lives as long as the process (the CLI does). Elsewhere (no prctl) this process stays
as COMMAND's parent and watches: once its own parent is gone it terminates COMMAND, then exits.

Nothing here imports more than the standard library (and `flows/interpreter.py`, which imports nothing
else either): it runs before the command it starts.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from rowrelay.flows.interpreter import python  # standard library only, as this module

_PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 1.0


def leashed(command: Sequence[str]) -> list[str]:
    """`command` run so that it dies with this process (start it from the main thread)."""
    return python("-m", "rowrelay.flows.leash", str(os.getpid()), *command)


def _pdeathsig() -> bool:
    """Ask for SIGTERM when the parent dies; False where the kernel offers no such thing."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0)


def main(argv: Sequence[str]) -> int:
    parent, command = int(argv[0]), list(argv[1:])
    if _pdeathsig():
        if os.getppid() != parent:
            return 1  # the parent died before the request: nothing to serve
        os.execvp(command[0], command)
    child = subprocess.Popen(command)
    while child.poll() is None:
        if os.getppid() != parent:
            child.terminate()
            return child.wait()
        time.sleep(_WATCH_SECONDS)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
