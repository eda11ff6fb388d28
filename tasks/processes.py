"""Whether a process still exists: what leases, the embedded emulator's record and `rowrelay services`
ask of a pid they were told about. Standard library only (bottom layer), so the CLI's light commands can
ask without importing the state table."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (one we may not signal still counts; one that
    has ended but is not yet reaped by its parent does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def gone_here(host: str, pid: int) -> bool:
    """Whether a process recorded as `pid` on `host` is known to be gone: on this host, and not alive.
    On another host nothing is known from here (a lease's heartbeat tells instead)."""
    return host == socket.gethostname() and not pid_alive(pid)


def _zombie(pid: int) -> bool:
    """An ended process its parent has not yet waited for still answers signal 0. Prefect's runner
    runs a cancelled flow's hooks in its own process right after killing the flow's: until it reaps
    that child, the child's lease on the batch looked held. Linux's /proc tells; elsewhere, assume not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    # "pid (command) state ...": the command may hold spaces and parentheses, the state follows the last.
    return fields[fields.rfind(b")") + 2 : fields.rfind(b")") + 3] == b"Z"
