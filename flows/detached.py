"""Long-lived helper processes rowrelay starts and leaves running for later runs (the embedded emulator,
the local Prefect server): their records, whether they still run, and stopping them.

Each one runs in its own session (so a Ctrl-C of the run that started it does not reach it, and its whole
process group can be signalled) and is described by a small JSON record under rowrelay's home, written
atomically. A record outlives its process (a reboot, a kill), and a pid may be reused meanwhile, so a
process counts as one of ours only if it is alive *and* its command line still says what it is: rowrelay
never signals a stranger that happens to hold a recorded pid.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rowrelay.flows.interpreter import SAFE_PATH as SAFE_PATH  # re-exported: who starts a process asks here
from rowrelay.flows.interpreter import python as python
from rowrelay.tasks.durable import atomic_write_bytes
from rowrelay.tasks.key_variables import key_variables
from rowrelay.tasks.processes import pid_alive

_STOP_SECONDS = 20.0
_outliving: list[subprocess.Popen[bytes]] = []
"""Children started to outlive this process (the embedded emulator, the local Prefect server, the warm
runner). Python warns when it collects the `Popen` of a child still running, so they are held here and
let go at exit without that warning (`_let_go`): under `-W error` (the tests) each one printed an
"Exception ignored ... ResourceWarning: subprocess N is still running" as its process ended."""


def outlive(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """Hold `process`, a child meant to outlive this process (see `_outliving`); returns it."""
    _outliving.append(process)
    return process


def _reap(pid: int) -> None:
    """Forget the held child `pid` once it has ended (reaped: not a zombie till this process ends)."""
    for process in [p for p in _outliving if p.pid == pid]:
        if process.poll() is not None:
            _outliving.remove(process)


@atexit.register
def _let_go() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        _outliving.clear()  # each `Popen` is collected here, inside the filter


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at `path`, or None if there is none or it is unreadable (a torn record holds nothing)."""
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(path: Path, record: Mapping[str, Any]) -> None:
    """Atomically: a reader sees the previous record or this one, never half of one."""
    atomic_write_bytes(path, json.dumps(record, indent=1).encode())


def runs(pid: int, marker: str) -> bool:
    """Whether `pid` is a live process whose command line contains `marker` (where /proc can tell)."""
    if pid <= 0 or not pid_alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return not proc.parent.is_dir()  # no /proc (macOS): the pid is all there is to go on
    return state != "Z" and marker in command  # a zombie has exited already; it only awaits its parent


NOT_PASSED = ("ROWRELAY_", "OPENAI_", "AZURE_OPENAI_", "PREFECT_API_URL", "PREFECT_API_KEY")
"""Never in a long-lived process's environment: it has no use for keys, and each run brings its own
settings and Prefect API."""


def passed_on(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without what a long-lived process must not hold: `NOT_PASSED`, and the variables this
    process read a key from by name (an endpoints file's `api_key_env`: tasks/key_variables.py); with
    `SAFE_PATH`, so that what it starts is not shadowed either."""
    keys = key_variables()
    kept = {
        name: value for name, value in environ.items() if not name.startswith(NOT_PASSED) and name not in keys
    }
    return {**kept, **SAFE_PATH}


def spawn(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session, its output appended to `log`, reading nothing; held (`outlive`)."""
    with log.open("ab") as sink:
        return outlive(
            subprocess.Popen(
                command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        )


def stop(pid: int, marker: str, timeout: float = _STOP_SECONDS) -> bool:
    """SIGTERM the process (and its group), wait for it to go, SIGKILL it if it lingers past `timeout`.
    False if it was not running (or is not ours: see `runs`)."""
    if not runs(pid, marker):
        return False
    _signal(pid, signal.SIGTERM)
    if not _gone_within(pid, marker, timeout):
        _signal(pid, signal.SIGKILL)
        _gone_within(pid, marker, 5.0)
    _reap(pid)
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pid, signum)  # started with start_new_session: its pid leads its group
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _gone_within(pid: int, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if this process started it (else it stays a zombie)
        if not runs(pid, marker):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def free_port() -> int:
    """A loopback port free right now (another process could take it before it is used: callers retry)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_SERVICE_PORTS_SPAN = 10000


def service_port(name: str) -> int:
    """A loopback port free now for the long-lived service `name`, below the ports the kernel hands out
    to outgoing connections: a port in that range can be taken by any client socket while the service is
    down (a test suite or a browser opens thousands), and the service could not start on it again,
    where a run still holding its URL waits for it. Derived from `name`, so the service comes back at
    the address it had (its UI's bookmark still works), or the next port free from there."""
    ceiling = ephemeral_floor()
    floor = max(1024, ceiling - _SERVICE_PORTS_SPAN)
    span = ceiling - floor
    if span <= 0:  # a kernel lending out nearly every port: no range is safe, any free one will do
        return free_port()
    first = zlib.crc32(name.encode()) % span
    for step in range(span):
        port = floor + (first + step) % span
        if port_free(port):
            return port
    return free_port()  # all taken: a port at all beats none


def ephemeral_floor() -> int:
    """The lowest port of the kernel's range for outgoing connections (Linux's default; macOS and
    Windows start theirs at 49152, above it)."""
    try:
        return min(32768, int(_EPHEMERAL_RANGE.read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return 32768


EXIT_PATIENCE = 10.0
"""Seconds a server's port may stay held once its process reads as gone: a killed process's command line
reads empty from the start of its exit, and its sockets are let go only at the end, after the kernel has
freed its memory (a second or more for a Prefect server on a loaded machine)."""


def port_freed(port: int, within: float = EXIT_PATIENCE) -> bool:
    """Whether loopback `port` is free, or frees within `within` seconds: a server found gone, to be
    started again on its port, may still be exiting with its listening socket open."""
    deadline = time.monotonic() + within
    while not port_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def port_free(port: int) -> bool:
    """Whether nothing listens on loopback `port` (connections a stopped server left behind do not count,
    as for the servers themselves, which bind with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold `lock` (flock) for the block: one process at a time decides whether to start a server. The
    kernel releases it if the holder dies, so a crash cannot wedge the next run."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def newest_source(directory: str) -> int:
    """When the newest Python source under `directory` last changed (ns): what a helper process started
    from older code is told apart by (the warm runner's fingerprint, the embedded emulator's code)."""
    newest = 0
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                newest = max(newest, newest_source(entry.path))
            elif entry.name.endswith(".py"):
                newest = max(newest, entry.stat().st_mtime_ns)
    return newest
