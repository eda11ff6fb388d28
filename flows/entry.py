"""The `rowrelay` command's entry point: the CLI, then an exit that skips the interpreter's teardown.

After a run, tearing down the interpreter (freeing every module Prefect, pandas, pyarrow and the SDK
loaded, object by object) took 0.8-1.2 s of a 3-row run's 5-7 s here, and frees nothing the operating
system would not free at once. So once the command is done, this runs what an exit must run (the
`atexit` handlers: Prefect sends its last logs and events, logging closes its files), waits for any
non-daemon thread as the interpreter would, flushes stdout and stderr, and ends the process with the
command's exit code. Only the installed `rowrelay` command does this; `python -m rowrelay.flows.cli` and
in-process callers (tests, notebooks) exit as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def main() -> NoReturn:
    from rowrelay.flows.cli import app

    try:
        app()
    except SystemExit as exc:
        code = _exit_status(exc.code)
    else:
        code = 0
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`rowrelay services | head`)
            stream.flush()
    os._exit(code)


def _exit_status(code: object) -> int:
    """What the interpreter would exit with for `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
