"""The `rowrelay` command's entry point: the CLI, then an exit that skips the interpreter's teardown.

After a run, tearing down the interpreter (freeing every module Prefect, pandas, pyarrow and the SDK
loaded, object by object) took 0.8-1.2 s of a 3-row run's 5-7 s here, and frees nothing the operating
system would not free at once. So once the command is done, this runs what an exit must run (the
`atexit` handlers: Prefect sends its last logs and events, logging closes its files), waits for any
non-daemon thread as the interpreter does, flushes stdout and stderr, and ends the process with the
command's exit code. Only the installed `rowrelay` command does this; `python -m rowrelay.flows.cli` and
in-process callers (tests, notebooks) exit as usual.

Before any of that, `rowrelay run` is offered to a warm runner (flows/warm.py), which has those imports
done already; a run that ran here leaves one behind for the next.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from typing import NoReturn

from rowrelay.flows.start_ctrl_c import (
    hold_ctrl_c,
    interrupted_at_start,
    let_go_ctrl_c,
    runs_a_batch,
)


def main() -> NoReturn:
    argv, environ = sys.argv[1:], dict(os.environ)
    batch = runs_a_batch(argv)
    if batch:  # Ctrl-C is taken once `run`'s body begins, and said there (flows/start_ctrl_c.py)
        hold_ctrl_c()
    try:  # or here, before the CLI: not a traceback of the import it cut
        from rowrelay.flows import warm
        from rowrelay.tasks.loopback import direct_to_loopback

        direct_to_loopback(os.environ)  # before any server of ours is reached, or started with it
        print_ = warm.fingerprint(environ) if warm.wanted(argv, environ) else None
        let_go_ctrl_c()  # the hand-off relays signals itself (flows/signal_relay.py)
        status = None if print_ is None else warm.serve_warm(argv, environ, print_)
        if batch:
            hold_ctrl_c()
    except KeyboardInterrupt:
        print(interrupted_at_start(argv), file=sys.stderr)
        _end_as(130)
    if status is not None:
        _end_as(status)
    code = run_command()
    if print_ is not None and code in (0, 1) and _ran_a_batch():
        warm.start_runner(environ, print_)
    finish(code)


def _ran_a_batch() -> bool:
    """Whether the command got as far as the batch flow, whose imports a runner keeps: not a refused
    command (exit 2), nor `rowrelay run --help` (exit 0), which would leave a runner nobody asked for."""
    return "rowrelay.flows.batch" in sys.modules


def run_command() -> int:
    """The CLI on `sys.argv`, to its exit code. A usage error (an unknown option or command, a value of
    the wrong kind) is one line, as every other refusal is, not click's usage box."""
    if runs_a_batch(sys.argv[1:]):  # held already, unless a warm runner's copy runs this
        hold_ctrl_c()
    try:  # a Ctrl-C in these imports (typer's, the CLI's: 0.1-0.2 s) was a traceback, exit -2
        import typer

        # Typer (0.26+) raises its own copy of click's errors, not exported: a usage error's words and
        # context are all this reads of them.
        from typer._click.exceptions import NoArgsIsHelpError, UsageError

        from rowrelay.flows.cli import app
    except KeyboardInterrupt:
        print(interrupted_at_start(sys.argv[1:]), file=sys.stderr)
        return 130
    try:
        result = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()  # the help, as `rowrelay` alone asks for
        return exc.exit_code
    except UsageError as exc:
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        print(f"error: {exc.format_message()}{where}", file=sys.stderr)
        return exc.exit_code
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return _exit_status(exc.code)
    finally:
        let_go_ctrl_c(then_raise=False)  # a command refused before `run`'s body began: its own line said
    return result if isinstance(result, int) else 0


def finish(code: int) -> NoReturn:
    """What an exit must run, then the exit itself, without the interpreter's teardown.

    Threads are waited for as the interpreter waits for them, by its own `threading._shutdown`: it first
    runs the hooks that tell idle pool workers to end (`concurrent.futures` registers one), then joins
    every non-daemon thread. Joining them directly hung for ever on an idle worker of a pool nobody shut
    down: a run stopped by Ctrl-C pressed three times fast left the state table's writer thread
    (`rowrelay-state`) so, and `rowrelay run` said `interrupted: ...` and never exited."""
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls before atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`rowrelay services | head`)
            stream.flush()
    os._exit(code)


_UNCATCHABLE = frozenset({signal.SIGKILL, signal.SIGSTOP})


def _end_as(status: int) -> NoReturn:
    """End as the warm run did: its exit code, or killed by the same signal (a shell then says so)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if status < 0:
        if -status not in _UNCATCHABLE:  # no handler may be set for them (EINVAL): they kill as they are
            signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        status = 128 - status  # a signal it cannot die of (an ignored one)
    os._exit(status)


def _exit_status(code: object) -> int:
    """What the interpreter would exit with for `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
