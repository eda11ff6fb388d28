"""Whether a process still exists: what leases, the embedded emulator's record and `rowrelay services`
ask of a pid they were told about. Standard library only (bottom layer), so the CLI's light commands can
ask without importing the state table."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal still counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
