"""Warm runs: `rowrelay run` served by a runner that imported Prefect, pandas, pyarrow and the SDK already.

Those imports take 3.5-4.5 s of every run on a 2-core machine, most of a small batch's wall time, and no
lazier import removes them: the flow needs them all. So a `rowrelay run` that ran (exit 0 or 1; not one
refused for bad input) leaves a *runner* behind (flows/warm_runner.py): a detached process that imports
all that once and waits on a Unix socket under rowrelay's home. The next `rowrelay run` connects and hands
over its arguments, environment, working directory, umask and its stdin, stdout and stderr themselves
(SCM_RIGHTS); the runner forks a copy of itself that runs the command as the command would have: the same
code, its output on the same terminal or pipe, the same exit code. This process waits for it, relays
Ctrl-C, SIGTERM, SIGHUP and SIGQUIT to it (those it was started ignoring stay ignored, there too), and
if this process is killed outright (kill -9) the copy is killed too, as the run itself would have been.

A runner serves only commands whose interpreter, installed code, import-time environment and process
context match its own (`fingerprint`): an upgrade, an edited source file, another PREFECT_* setting or a
command under `ulimit` or `taskset` runs in its own process and then leaves a runner of its own, which
replaces the last one (one per home). Anything in doubt (no runner, a refused connection, a closed
stdin, not Linux) and the command runs in its own process as before. A runner exits after an hour
without a request; `rowrelay services` lists it and `rowrelay services stop runner` stops it (the runs
it serves go on). `ROWRELAY_WARM=false` turns warm runs off. Standard library only: the command reads
this before it imports anything else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import select
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from rowrelay.flows import detached
from rowrelay.flows.signal_relay import SignalRelay
from rowrelay.flows.start_ctrl_c import interrupted_at_start
from rowrelay.tasks.records import DEFAULT_HOME

MARKER = "rowrelay.flows.warm_runner"
"""What a live runner's command line holds (`detached.runs`)."""
IDLE_SECONDS = 3600.0
"""How long a runner waits for a request before it exits."""
_COMMANDS = frozenset({"run"})
"""The commands served warm: those that import the flow. The others start in under a second anyway."""
_IMPORT_TIME_ENV = ("PREFECT_", "PYTHON", "LC_")
_IMPORT_TIME_NAMES = frozenset({"HOME", "LANG", "TZ"})
"""What the environment may change in what modules do when imported: Prefect reads its settings and
sets up logging, Python its paths and locale. Other variables (keys, ROWRELAY_*, proxies) are read when
the run reads them, in the forked copy, from the command's own environment."""
_ON = frozenset({"", "1", "true", "t", "yes", "y", "on"})
ANSWER_SECONDS = 30.0
"""How long the runner may take to start a command before the command runs here instead, and how long
a connected client may take to send its request."""
_SOCKET_PATH_MAX = 100
"""sun_path holds 104-108 bytes: a longer path is reached relative to its directory instead."""


def home_of(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("ROWRELAY_HOME") or DEFAULT_HOME).expanduser()


def wanted(argv: list[str], environ: Mapping[str, str]) -> bool:
    """Whether this command may be served warm. ROWRELAY_WARM off, or neither on nor off (then the
    settings refuse it in one line), runs it in its own process."""
    # Linux only: on macOS a process that loaded system frameworks (numpy's Accelerate) may crash when
    # forked, and Windows has no fork.
    supported = sys.platform.startswith("linux") and hasattr(socket, "send_fds")
    switch = environ.get("ROWRELAY_WARM", "").strip().lower()
    command = next((arg for arg in argv if not arg.startswith("-")), None)  # after -v, --verbose
    return supported and command in _COMMANDS and switch in _ON


def fingerprint(environ: Mapping[str, str]) -> str:
    """What a runner's imports depend on: the interpreter, every installed module (rowrelay's sources by
    their newest change, the rest by their directories', which installing or removing a package
    changes) and the import-time environment. A secret in it is hashed, never stored."""
    digest = hashlib.sha256(f"{sys.executable}\0{sys.version}\0{_process_context()}".encode())
    import rowrelay.flows
    import rowrelay.tasks

    for package in (*rowrelay.flows.__path__, *rowrelay.tasks.__path__, *sys.modules["rowrelay"].__path__):
        digest.update(f"{package}\0{detached.newest_source(package)}\0".encode())
    for entry in filter(None, sys.path):  # not '' (the working directory, which a command may change)
        digest.update(f"{entry}\0{_installed(entry)}\0".encode())
    for name in sorted(environ):
        if name.startswith(_IMPORT_TIME_ENV) or name in _IMPORT_TIME_NAMES:
            digest.update(f"{name}={environ[name]}\0".encode())
    return digest.hexdigest()[:16]


def _installed(entry: str) -> str:
    """What a `sys.path` folder holds: the names in it, which installing, upgrading (a metadata folder
    is named with its version) or removing a package changes. Not the folder's change time: the first
    import in a venv installed without bytecode (uv's default) creates its `__pycache__`, and the
    second run started cold. Names are read without a stat each: this is on every warm command's way.
    Not seen: a package rebuilt in place at the same version (`rowrelay services stop runner` then)."""
    try:
        with os.scandir(entry) as entries:
            return "\0".join(sorted(e.name for e in entries if e.name != "__pycache__"))
    except OSError:  # a zip, or a folder gone: its path alone
        return ""


def _process_context() -> str:
    """What a forked command inherits from the runner rather than from this process: its user and
    groups, resource limits, priority, CPU affinity and cgroup. A runner is started by a command, so it
    has that command's; a command in another context (under `ulimit`, `nice`, `taskset` or a systemd
    unit) gets its own."""
    limits = [
        resource.getrlimit(getattr(resource, name)) for name in dir(resource) if name.startswith("RLIMIT_")
    ]
    try:
        cgroup = Path("/proc/self/cgroup").read_text()
    except OSError:
        cgroup = ""
    ids = (os.getuid(), os.getgid(), sorted(os.getgroups()), os.getpriority(os.PRIO_PROCESS, 0))
    return f"{ids}\0{limits}\0{sorted(os.sched_getaffinity(0))}\0{cgroup}"


def runner_files(home: Path) -> tuple[Path, Path]:
    """The runner's record and log: one runner per home, the last one started."""
    return home / "runner.json", home / "runner.log"


def socket_path(home: Path, print_: str) -> Path:
    return home / f"runner-{print_}.sock"


def runner_record(home: Path) -> dict[str, Any] | None:
    return detached.read_record(runner_files(home)[0])


@contextlib.contextmanager
def reachable(path: Path) -> Iterator[str]:
    """A name `path` can be bound or connected by: itself, or (too long for sun_path) its file name,
    this process's working directory moved to its folder for the block."""
    if len(os.fsencode(path)) <= _SOCKET_PATH_MAX:
        yield str(path)
        return
    back = os.open(".", os.O_RDONLY)
    try:
        os.chdir(path.parent)
        yield path.name
    finally:
        os.fchdir(back)
        os.close(back)


def serve_warm(argv: list[str], environ: Mapping[str, str], print_: str) -> int | None:
    """Run the command on the runner of fingerprint `print_`: its wait status (an exit code, or minus
    the signal that ended it), or None when no runner took it (nothing ran: run it here)."""
    home = home_of(environ)
    record = runner_record(home)
    path = socket_path(home, print_)
    if record is None or record.get("fingerprint") != print_:
        return None
    relay = SignalRelay()
    with relay, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        replies = connection.makefile("rb")  # one reader: both answers may arrive in one read
        try:
            started = _hand_over(connection, replies, path, [sys.argv[0], *argv], environ, relay.ignored)
        except (OSError, ValueError):
            started = None  # no runner, a stale socket, a closed stdin: nothing was started
        if started is None:  # nothing was started: a signal meanwhile ends the command as it would have
            return _before_start(relay.pending[0], argv) if relay.pending else None
        pid, supervisor = started
        relay.target(pid)
        connection.settimeout(None)
        with _watched(pid) as ended_fd:
            try:
                ended = json.loads(replies.readline() or b"null")
            except (OSError, ValueError):
                ended = None
            if not isinstance(ended, dict) or not isinstance(ended.get("status"), int):
                # Its supervisor is gone (killed, or out of memory) and took the command with it
                # (`warm_runner._become`): a SIGTERM, which stops it as it stops any run. Waited for, so
                # that it no longer writes here nor holds the batch when this says "the same command again".
                _wait_for_end(ended_fd)
                return _supervisor_lost(pid, supervisor)
    status: int = ended["status"]
    if status == -signal.SIGKILL:  # not relayed by this process: the OOM killer, or a kill -9 of it
        print(
            f"rowrelay: this run (pid {pid}) was killed (SIGKILL: `kill -9`, or the kernel out of memory); "
            "`rowrelay status` shows what the batch holds, and the same command again resumes it",
            file=sys.stderr,
        )
    return status


def _before_start(signum: int, argv: list[str]) -> int:
    """How a command stopped while it was handed over ends: Ctrl-C in one line, exit 130, as a run it
    reached says it (it died of the SIGINT, silently); another signal kills it as it would have."""
    if signum != signal.SIGINT:
        return -signum
    print(interrupted_at_start(argv), file=sys.stderr)
    return 128 + signum


def _supervisor_lost(pid: int, supervisor: int) -> int:
    print(
        f"rowrelay: the warm runner's supervisor of this run (pid {supervisor}) stopped before the run "
        f"ended, and the run (pid {pid}) was stopped with it as a SIGTERM stops a run (its in-flight "
        "responses cancelled); `rowrelay status` shows what the batch holds, and the same command again "
        "resumes it",
        file=sys.stderr,
    )
    return 1


@contextlib.contextmanager
def _watched(pid: int) -> Iterator[int | None]:
    """A descriptor that becomes readable when process `pid` ends, opened while it surely runs (its
    supervisor has not reaped it), or None where pidfds are missing."""
    try:
        fd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _wait_for_end(ended_fd: int | None) -> None:
    """Until the watched process ends; signals meanwhile still reach it (the relay is in place)."""
    if ended_fd is not None:
        select.select([ended_fd], [], [])


def _hand_over(
    connection: socket.socket,
    replies: BinaryIO,
    path: Path,
    argv: list[str],
    environ: Mapping[str, str],
    ignored: list[int],
) -> tuple[int, int] | None:
    """Send the request (with the signals this process ignores, which the command ignores too) and the
    three streams; the command's pid and its supervisor's once the runner has started it."""
    if path.stat().st_uid != os.getuid():
        return None  # never hand a command (its keys) to another user's socket
    connection.settimeout(ANSWER_SECONDS)
    with reachable(path) as name:
        connection.connect(name)
    umask = os.umask(0o022)
    os.umask(umask)
    request = {"argv": argv, "env": dict(environ), "cwd": str(Path.cwd()), "umask": umask, "ignored": ignored}
    body = json.dumps(request).encode()
    socket.send_fds(connection, [len(body).to_bytes(8, "big") + body], [0, 1, 2])
    started = json.loads(replies.readline() or b"null")
    if not isinstance(started, dict):
        return None
    pid, supervisor = started.get("pid"), started.get("supervisor")
    return (pid, supervisor) if isinstance(pid, int) and isinstance(supervisor, int) else None


def start_runner(environ: Mapping[str, str], print_: str) -> None:
    """Leave a runner for `print_` behind, unless one runs already (or is starting). It replaces a runner
    of another fingerprint (an older install, other settings): one per home, so edits and upgrades do
    not pile up idle runners of a few hundred MB each. The runs a replaced runner serves go on."""
    home = home_of(environ)
    record, log = runner_files(home)
    home.mkdir(parents=True, exist_ok=True)
    with detached.exclusive(home / "runner.lock"):
        held = runner_record(home)
        pid = held.get("pid") if held is not None else None
        if isinstance(pid, int) and detached.runs(pid, MARKER):
            if held is not None and held.get("fingerprint") == print_:
                return
            detached.stop(pid, MARKER)
        command = detached.python("-m", MARKER, str(home), print_)
        # No keys nor settings of rowrelay's: each command brings its own environment.
        env = detached.passed_on(environ)
        process = detached.spawn(command, log, env, cwd=home)
        # Recorded at once, before it listens: `rowrelay services` sees a runner that is still importing.
        detached.write_record(
            record,
            {"pid": process.pid, "fingerprint": print_, "socket": str(socket_path(home, print_)),
             "log": str(log), "started_at": time.time()},
        )  # fmt: skip


def stop_runner(home: Path) -> dict[str, Any] | None:
    """Stop the recorded runner if it runs and forget it; returns what was stopped. Runs it serves go on."""
    record, _ = runner_files(home)
    with detached.exclusive(home / "runner.lock"):
        held = runner_record(home)
        record.unlink(missing_ok=True)
    pid = held.get("pid") if held is not None else None
    return held if isinstance(pid, int) and detached.stop(pid, MARKER) else None
