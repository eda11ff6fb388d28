"""Which processes use a service rowrelay keeps running (flows/services.py): those holding a connection
to its port. A live run that uses the embedded emulator or the local Prefect server starts it again within
a second of its stopping (flows/backends.py, flows/server_guard.py), so a stop under a run does not hold:
`rowrelay services stop` said "stopped emulator", and the run had it back at once, its in-flight rows sent
again.

A run keeps its connections open between requests (the SDK's and Prefect's clients pool them), so one
found connected is a run going; one between requests for longer than the pools keep a connection (5 s)
may go unseen, and so does `run_batch` called from a notebook (a process not named rowrelay). A `rowrelay
run` is seen all the same, from before it looks the services up to its end (below).

A run has no connection in its first seconds either (it checks its input, looks the services up, imports
Prefect): a stop then was not refused, and the run started both services again, said so ("started it
again on its port ... so the run goes on being recorded"), then failed as the Prefect server it had just
started did not answer yet ("... stopped answering as the run started ... nothing was sent", exit 2). So a
`rowrelay run` announces the services it will use before it looks them up (`announced`): a file under
`in-use/` it holds a lock on until it ends (the kernel lets go of it if the run is killed). Announcing and
`services stop`'s check-then-stop both hold `in-use.lock` (`no_run_announcing`): a run announced first is
found, and a run that announces during a stop looks the services up once they are stopped, and starts its
own. `run_batch` announces too, however it is called (a script or a notebook, whose command line names no
rowrelay, was never seen, even connected: a stop took the emulator from under its in-flight rows, which
were sent again), and so does `rowrelay deploy` while it serves; a machine's first run announces in a
home made for it, removed again with its lock file if it started nothing there: the lock is the file at
its path when taken (`_announcing_held`), so a process that waited on the one removed takes the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

import psutil

log = logging.getLogger("rowrelay.services")

if TYPE_CHECKING:
    from rowrelay.flows.request import BatchRequest

_SHOWN = 100
"""Characters of a user's command line shown."""


def port_of(address: str) -> int | None:
    """The port of a service's address (`http://127.0.0.1:PORT/...`); None for the runner's socket path."""
    try:
        return urlsplit(address).port if "://" in address else None
    except ValueError:
        return None


def users(service_pid: int, port: int) -> list[int]:
    """The pids of rowrelay's processes, other than the service's and this one, connected to loopback
    `port`."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:  # not ours to read (where /proc hides other processes' sockets)
        return []
    found = {
        connection.pid
        for connection in connections
        if connection.status == psutil.CONN_ESTABLISHED
        and connection.raddr
        and connection.raddr.port == port
        and connection.pid is not None
        and connection.pid not in (service_pid, os.getpid())
    }
    return sorted(pid for pid in found if _is_rowrelays(pid))


def _is_rowrelays(pid: int) -> bool:
    """Whether `pid` runs rowrelay (a command, a warm run): not a browser on the Prefect UI, say, whose
    connection stops nothing from stopping."""
    try:
        return "rowrelay" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def described(pid: int) -> str:
    """`pid N: its command line`, shortened."""
    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return f"pid {pid}"
    if "rowrelay.flows.warm_runner" in command:
        command = "a `rowrelay run` served by the warm runner"
    return f"pid {pid}: {command[:_SHOWN]}{'...' if len(command) > _SHOWN else ''}"


_ANNOUNCED, _ANNOUNCING = "in-use", "in-use.lock"


@contextlib.contextmanager
def no_run_announcing(home: Path) -> Iterator[None]:
    """For the block, no run announces its use of `home`'s services: a stop's check and stop are one step
    to every run (one that announces meanwhile waits, then finds the services stopped)."""
    with _announcing_held(home, make_home=False):
        yield


@contextlib.contextmanager
def _announcing_held(home: Path, *, make_home: bool) -> Iterator[bool]:
    """Hold `home`'s announcing lock for the block, and yield whether this made `home` (`make_home`: for
    an announcement; else, with no home, hold nothing: no service is recorded there, nor any run that
    announced one). The lock is the file at `in-use.lock` when it is taken: `_forget_if_unused` removes
    that file with an unused home, so one a process opened before and locked after is no longer it (two
    runs, or a run and a stop, each locking a file of its own, excluded nothing); it is opened again."""
    lock, made = home / _ANNOUNCING, False
    while True:
        if make_home:
            with contextlib.suppress(FileExistsError):
                home.mkdir(parents=True)
                made = True
        try:
            handle = lock.open("a")
        except (FileNotFoundError, NotADirectoryError):
            if make_home and not os.path.lexists(home):  # removed as unused just now: made again
                continue
            if make_home:
                raise
            yield made  # no home (any longer): nothing to make wait
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if _is_at(handle, lock):
                yield made
                return


def _is_at(handle: IO[str], path: Path) -> bool:
    """Whether the file `handle` holds is the one at `path` now (not removed, nor replaced, since)."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def services_a_run_uses(request: BatchRequest) -> list[str]:
    """The services rowrelay keeps that a run of `request` will use (as `PrefectTracking.begin` and
    `backends.resolve_backend` decide): the local Prefect server when no Prefect API is configured, the
    embedded emulator when the run or one of its endpoints talks to it."""
    from rowrelay.flows.backends import needs_embedded_emulator
    from rowrelay.flows.local_prefect import NAME

    settings = [request.settings, *(endpoint.settings for endpoint in request.endpoints)]
    used = ["emulator"] if any(needs_embedded_emulator(each) for each in settings) else []
    return [*used, NAME] if _on_the_local_server(request) else used


def services_a_deployment_uses(request: BatchRequest) -> list[str]:
    """The services `rowrelay deploy` itself uses while it serves `request`'s deployment: the local Prefect
    server its schedule lives on, if it is that one. Its runs announce what they use themselves."""
    from rowrelay.flows.local_prefect import NAME

    return [NAME] if _on_the_local_server(request) else []


def _on_the_local_server(request: BatchRequest) -> bool:
    """Whether a run of `request` is recorded on the local Prefect server: none configured, or (inside a
    run that the local server records, Prefect's settings pointed at it for the run) that very server."""
    from rowrelay.flows.local_prefect import read_server
    from rowrelay.flows.prefect_api import configured_api

    if request.settings.prefect != "local":
        return False
    configured = configured_api()
    if configured is None:
        return True
    local = read_server(request.settings.home.expanduser())
    return local is not None and local.url.rstrip("/") == configured.rstrip("/")


@contextlib.contextmanager
def announced(home: Path, services: Collection[str]) -> Iterator[None]:
    """For the block, this process is a user of `services` (names, as `rowrelay services` lists them) that
    `announced_users` finds, whether or not it holds a connection to them yet. Said once per process: a
    `rowrelay run` announces itself before its flow, whose body (`run_batch`, called from Python too)
    announces again. With no home yet (a machine's first run) the home is made for it, and removed again
    at the block's end if nothing else was put there: a run refused in its first seconds (a Prefect API
    that cannot be reached) leaves no trace in a home it never used."""
    path = home / _ANNOUNCED / f"{os.getpid()}-{'+'.join(sorted(services))}"
    if not services:
        yield
        return
    held = _HELD.get(path)
    if held is None:
        held = _announce(home, path)
        if held is None:
            yield
            return
        _HELD[path] = held
    held.blocks += 1
    try:
        yield
    finally:
        held.blocks -= 1
        if held.blocks == 0:  # the last block of this process using them: a stop may take them now
            del _HELD[path]
            path.unlink(missing_ok=True)
            held.handle.close()
            if held.made_home:
                _forget_if_unused(home)


@dataclass
class _Held:
    """An announcement this process holds, and how many of its blocks use it: a second flock of the same
    file from one process would wait for ever on the first, and two runs at once in one process (two
    batches gathered in a notebook) must not lose theirs when the first ends."""

    handle: IO[str]
    made_home: bool
    blocks: int = 0


_HELD: dict[Path, _Held] = {}
"""The announcements this process holds: the process's own facts, as its flocks are."""


def _announce(home: Path, path: Path) -> _Held | None:
    """Lock the announcement at `path` (held until its handle is closed); None where the home cannot be
    written (one warning). With no home yet (a machine's first run) the home is made for it."""
    try:
        with _announcing_held(home, make_home=True) as made:
            path.parent.mkdir(exist_ok=True)
            handle = path.open("a")
            fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError as exc:  # a home this user may read, not write (services another user started)
        log.warning(
            "cannot note this run's use of the services in %s (%s): a `rowrelay services stop` in its first "
            "seconds would not see it",
            path.parent,
            exc.strerror or exc,
        )
        return None
    return _Held(handle, made)


def _forget_if_unused(home: Path) -> None:
    """Remove `home`, made for an announcement, if it holds nothing but announcing's own files: the run
    started no service there. Under the announcing lock, so no run's announcement in it is lost; a process
    waiting on the lock file removed here finds it gone once it has it, and takes the one at its path
    (`_announcing_held`), making the home again to announce."""
    with contextlib.suppress(OSError), no_run_announcing(home):
        (home / _ANNOUNCED).rmdir()  # fails while another run's announcement is in it
        if [entry.name for entry in home.iterdir()] == [_ANNOUNCING]:
            (home / _ANNOUNCING).unlink()
            home.rmdir()


def announced_users(home: Path) -> dict[str, list[int]]:
    """The pids of the live runs that announced their use of each service, by name. Call it holding
    `no_run_announcing`. An announcement no process holds (its run was killed) is removed."""
    found: dict[str, list[int]] = {}
    for path in (home / _ANNOUNCED).glob("*-*"):
        pid, _, names = path.name.partition("-")
        if not pid.isdigit():
            continue
        try:
            with path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: its run goes on
            for name in names.split("+"):
                found.setdefault(name, []).append(int(pid))
            continue
        except OSError:  # gone meanwhile, or not ours to open: no run of ours to wait for
            continue
        path.unlink(missing_ok=True)
    return found
