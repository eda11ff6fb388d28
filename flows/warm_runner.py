"""A warm runner (flows/warm.py): imports what `rowrelay run` needs once, then runs each command handed
to it on its socket in a forked copy of itself.

    python -P -m rowrelay.flows.warm_runner HOME FINGERPRINT

For each connection it forks a *supervisor* in a process group of its own (so stopping the runner
leaves the runs it serves alone), which reads the request, forks the *command* and answers the client
twice: the command's and its own pid (where the client relays its signals), then the command's wait
status. If the client goes away first (killed outright), the supervisor kills the command: a run dies
with its `rowrelay` process, warm or not. If the supervisor dies first, the kernel sends the command
SIGTERM (`_stop_with`), and the client waits for it to end before saying so. The runner itself keeps
no thread: `fork` copies only the calling thread, and a lock another thread held at that moment would
stay held forever in the copy.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from rowrelay.flows import detached, warm
from rowrelay.flows.signal_relay import RELAYED
from rowrelay.flows.start_ctrl_c import hold_ctrl_c

WARMED = (
    "rowrelay.flows.cli",
    "rowrelay.flows.batch",
    "rowrelay.flows.precheck",
    "rowrelay.flows.console_progress",
    "rowrelay.flows.closing_summary",
    "rowrelay.flows.backends",
    "rowrelay.flows.embedded",
    "rowrelay.flows.local_prefect",
    "rowrelay.flows.run_labels",
    "rowrelay.tasks.llm",
    "prefect.exceptions",
    "prefect.settings",
    "prefect.logging.configuration",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "fastapi.encoders",  # Prefect's engine serializes the flow's parameters with it: 0.15 s
    "httpcore2",
    "anyio._core._sockets",
    "anyio._core._streams",
    "pyarrow.dataset",
    "pyarrow.pandas_compat",
    "rich._emoji_codes",
    "encodings.idna",
    "rowrelay.flows.entry",
)
"""What `rowrelay run` imports, through its flow's end (`python -X importtime` of a run, after these:
nothing above a millisecond left)."""
_MAX_FDS = 3
_RELAYED = {*RELAYED}
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_STARTED = time.time()


def main(home: Path, print_: str) -> None:
    record, _ = warm.runner_files(home)
    path = warm.socket_path(home, print_)
    for module in WARMED:
        importlib.import_module(module)
    from typer.main import get_command

    from rowrelay.flows.cli import _DEFERRED
    from rowrelay.tasks.llm.client import tls_context

    get_command(_DEFERRED["run"]())  # `run`'s options, built from the settings' model
    tls_context()  # every client a run builds shares it (`tasks/llm/client.py`)
    if threading.active_count() != 1:
        print(f"not serving: importing started threads {threading.enumerate()}", file=sys.stderr)
        sys.exit(1)
    gc.freeze()  # what the imports made stays out of collections, so forks share its pages longer
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.umask(0o077)  # the socket is ours alone: a command hands its keys over it
    path.unlink(missing_ok=True)
    with warm.reachable(path) as name:
        listener.bind(name)
    bound = path.stat().st_ino
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the supervisors
    signal.signal(signal.SIGTERM, _stop)
    print(f"serving on {path} (pid {os.getpid()})", file=sys.stderr, flush=True)
    try:
        while select.select([listener], [], [], warm.IDLE_SECONDS)[0]:
            connection, _ = listener.accept()
            _hand_over(listener, connection)
    finally:
        with contextlib.suppress(OSError):
            if path.stat().st_ino == bound:  # not a successor's socket of the same name
                path.unlink()
        if (detached.read_record(record) or {}).get("pid") == os.getpid():
            record.unlink(missing_ok=True)
        print(f"stopped after {time.time() - _STARTED:.0f} s", file=sys.stderr, flush=True)


def _stop(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _hand_over(listener: socket.socket, connection: socket.socket) -> None:
    if os.fork():
        connection.close()
        return
    try:
        os.setpgid(0, 0)
        listener.close()
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        _supervise(connection)
    except BaseException as exc:  # into the runner's log; the client runs the command itself
        print(f"a request failed: {exc!r}", file=sys.stderr, flush=True)
    finally:
        os._exit(0)


def _supervise(connection: socket.socket) -> None:
    connection.settimeout(warm.ANSWER_SECONDS)  # a client that connects and says nothing is let go
    request, fds = _receive(connection)
    connection.settimeout(None)
    supervisor = os.getpid()
    # Held until the command has its handlers: the client relays a Ctrl-C as soon as it has the pid, and
    # one landing in the fork's hooks was ignored there ("Exception ignored in ... _at_fork_reinit"),
    # leaving logging's lock held: the run went on, deaf to Ctrl-C, and hung at its first log line.
    unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, _RELAYED)
    command = os.fork()
    if command == 0:
        _become(request, fds, connection, supervisor, unblocked)
    signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
    for fd in fds:
        os.close(fd)
    said = " ".join(arg for arg in request["argv"][1:3] if arg.startswith("-") or arg == "run")
    print(f"pid {command}: rowrelay {said} (in {request['cwd']})", file=sys.stderr, flush=True)
    with contextlib.suppress(OSError):
        connection.sendall(json.dumps({"pid": command, "supervisor": supervisor}).encode() + b"\n")
    status = _wait(command, connection)
    with contextlib.suppress(OSError):
        connection.sendall(json.dumps({"status": status}).encode() + b"\n")


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    message, fds, _, _ = socket.recv_fds(connection, 1 << 16, _MAX_FDS)
    if len(fds) != _MAX_FDS or len(message) < 8:
        raise ValueError("a request without its three streams")
    size = int.from_bytes(message[:8], "big")
    body = message[8:]
    while len(body) < size:
        more = connection.recv(size - len(body))
        if not more:
            raise ValueError("a request cut short")
        body += more
    request: dict[str, Any] = json.loads(body)
    return request, fds


def _wait(command: int, connection: socket.socket) -> int:
    """The command's wait status, as `os.waitstatus_to_exitcode` gives it; the command is killed if the
    client goes away first."""
    try:
        done = os.pidfd_open(command)
    except (AttributeError, OSError):
        done = None  # no pidfd here: look every 0.2 s
    while True:
        watched: list[socket.socket | int] = [connection] if done is None else [connection, done]
        readable = select.select(watched, [], [], None if done is not None else 0.2)[0]
        if connection in readable:  # the client's end closed (it never sends more)
            with contextlib.suppress(ProcessLookupError):
                os.kill(command, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(command, 0)[1])
        pid, status = os.waitpid(command, os.WNOHANG)
        if pid:
            return os.waitstatus_to_exitcode(status)


def _become(
    request: dict[str, Any], fds: list[int], connection: socket.socket, supervisor: int, mask: set[int]
) -> NoReturn:
    """In the forked command: take on the client's streams, place and environment, then run the CLI.
    The relayed signals are blocked until their handlers are in place; `mask` is the mask to restore."""
    from rowrelay.flows import entry

    try:
        ignored = _ignored(request)
        ctrl_c = signal.SIG_IGN if signal.SIGINT in ignored else signal.default_int_handler
        signal.signal(signal.SIGINT, ctrl_c)
        hold_ctrl_c()  # a Ctrl-C is said once `run`'s body begins, as in a command's own process
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP):
            signal.signal(signum, signal.SIG_IGN if signum in ignored else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        connection.close()
        _stop_with(supervisor)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=os.isatty(1))  # type: ignore[union-attr]
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = request["argv"]
        # As the installed command's script is run: Click names the program after argv[0] only when
        # `__main__` is no package's module (else it says `python -m rowrelay.flows.warm_runner`).
        sys.modules["__main__"].__package__ = None
        _settings_from_here()
    except BaseException as exc:  # said on the client's stderr, then out
        with contextlib.suppress(OSError):
            os.write(2, f"rowrelay: the warm runner could not take this command: {exc!r}\n".encode())
        os._exit(1)
    try:
        code = entry.run_command()
    except KeyboardInterrupt:  # as the interpreter ends on one: killed by SIGINT (130 in a shell)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        raise
    except BaseException:
        # Ended here as the interpreter ends a command run in its own process: the traceback, exit 1.
        # Left to rise, it reached `_hand_over`'s catch-all, whose exit 0 said every row completed.
        traceback.print_exc()
        code = 1
    entry.finish(code)


def _ignored(request: dict[str, Any]) -> set[int]:
    """The signals the client was started ignoring (`SignalRelay.ignored`), which the command ignores as
    it would in its own process. SIGTERM never: a run takes it over wherever it runs."""
    kept = {signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP}
    return {int(signum) for signum in request.get("ignored", [])} & kept


def _stop_with(supervisor: int) -> None:
    """Have the kernel send this command SIGTERM when its supervisor dies (killed, out of memory), which
    stops it as a SIGTERM stops any run: its in-flight responses cancelled, the batch's lease let go. The
    supervisor alone answers the client; without it the client, seeing its socket close, took the run
    for ended while it went on detached, writing to the terminal and holding the batch."""
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != supervisor:  # it died before the line above: no signal will come
        raise RuntimeError(f"its supervisor (pid {supervisor}) stopped before it started")


def _settings_from_here() -> None:
    """Prefect read its settings (the environment, a profile, a `.env` or `prefect.toml` in the working
    directory) and set up its logging on the runner's streams when imported: both again, as the command's."""
    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    refresh_global_settings_context()
    setup_logging(incremental=False)
    # A command run in its own process configures the console (`cli.main`) before it imports Prefect,
    # whose setup then leaves the root logger's handler alone: the same here.
    logging.getLogger().handlers.clear()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
