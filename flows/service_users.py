"""Which processes use a service rowrelay keeps running (flows/services.py): those holding a connection
to its port. A live run that uses the embedded emulator or the local Prefect server starts it again within
a second of its stopping (flows/backends.py, flows/server_guard.py), so a stop under a run does not hold:
`rowrelay services stop` said "stopped emulator", and the run had it back at once, its in-flight rows sent
again.

A run keeps its connections open between requests (the SDK's and Prefect's clients pool them), so one
found connected is a run going; one between requests for longer than the pools keep a connection (5 s)
may go unseen, and so does `run_batch` called from a notebook (a process not named rowrelay).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import psutil

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
