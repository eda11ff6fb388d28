"""Room in the process's open-file limit for every connection a run may hold.

Each client pools up to `connections` sockets, and a backend has two clients (creates and reads); a
stream holds its socket for the response's whole life. Many systems start a process with a soft limit
of 1,024 open files (macOS with 256) while allowing far more: past it, connects and state writes fail
with "Too many open files" halfway through a batch. So the soft limit is raised to what the run needs,
up to the hard limit, as servers commonly do; when even the hard limit is too low, the run says so once,
before it sends anything. A process may hold several backends at once (one per endpoint, or several
shards on one Dask worker), so the room is for every live backend's connections together.
"""

from __future__ import annotations

import logging
import sys
import weakref

log = logging.getLogger("rowrelay.backend")

_claims: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
"""Connections per live backend: a backend dropped (a notebook's finished run) no longer counts."""

SPARE_FILES = 256
"""Files beyond the connections: state segments being written, Prefect's client, logs, the input."""


def claim_files(owner: object, connections: int) -> None:
    """Make room for `owner`'s `connections` beside those of every other live owner in the process."""
    _claims[owner] = connections
    make_room_for(sum(_claims.values()))


def make_room_for(connections: int) -> None:
    """Raise the soft open-file limit to fit `connections` sockets and `SPARE_FILES`; warn if it cannot."""
    if sys.platform == "win32":
        return  # no such limit on sockets there
    import resource

    needed = connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # macOS caps the soft limit below an unlimited hard one
        target = soft
    if target < needed:
        log.warning(
            "this run may hold %d connections, but this process may open only %d files (ulimit -n): "
            "connections past it fail; lower --max-in-flight (stream mode) or raise the limit",
            connections,
            target,
        )
