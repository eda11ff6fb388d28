"""What `rowrelay cancel` tells a user whose batch a live run holds: how to stop that run, by what it is.

A run stopped the right way cancels its own in-flight responses (the runner does it as it unwinds), so
`cancel` leaves a held batch to its run and says how to stop it. For `rowrelay run` that is Ctrl-C where
it runs, or `kill` (SIGTERM) on its pid. A Jupyter kernel is another matter: `kill` ends the kernel at
once, every variable of the notebook lost, and its responses are left running, and billed, on the
server (a trial: 10 `in_progress` after the kernel was gone). A kernel's run stops as Jupyter stops a
cell: by interrupting it (the notebook's Interrupt button, which sends the kernel SIGINT), or, for a
run started as a task (`asyncio.create_task`), by cancelling that task.

`cancel` does not interrupt the kernel itself, though it knows the pid: a kernel interrupt stops the
cell that is executing, which need not be the batch's. A batch run as a background task while another
cell computes would go on, and that other cell would be cut short; with no cell executing, the kernel
ignores SIGINT and nothing would stop. Only the notebook's user knows which applies, so `cancel` says
what to do and leaves it to them.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from rowrelay.tasks.state.lease import live_holders

__all__ = ["STOP_THAT_RUN", "how_to_stop_the_holder"]

STOP_THAT_RUN = (
    "stop that run instead (Ctrl-C where it runs, or `kill` its pid): a run that stops cancels its "
    "in-flight responses itself"
)
_KERNEL_MODULES = ("ipykernel_launcher", "ipykernel")
"""What a Jupyter kernel's command line runs (`python -m ipykernel_launcher -f ...`: Jupyter, VS Code)."""


def how_to_stop_the_holder(state_dir: Path) -> str:
    """How to stop the live run holding the batch at `state_dir`: a Jupyter kernel on this host is
    interrupted, never killed; any other run as `rowrelay run` is (`STOP_THAT_RUN`)."""
    here = socket.gethostname()
    try:
        holders = live_holders(state_dir, time.time())
    except OSError:  # a lease this user may not read: who holds it is not known
        return STOP_THAT_RUN
    kernels = [holder.pid for holder in holders if holder.host == here and _is_kernel(holder.pid)]
    if not kernels:
        return STOP_THAT_RUN
    pid = kernels[0]
    return (
        f"that run is in a Jupyter kernel (pid {pid}): interrupt the cell awaiting it (the notebook's "
        f"Interrupt button, or `kill -INT {pid}`), or cancel the task it runs in (`task.cancel()`), and it "
        "cancels its in-flight responses itself; do not kill the kernel: that leaves them running, and "
        "billed, on the server"
    )


def _is_kernel(pid: int) -> bool:
    """Whether the process `pid` runs a Jupyter kernel, from its command line (Linux's /proc; elsewhere
    it is not known, and the plain advice is given)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [word.decode(errors="replace") for word in argv]
    return any(Path(word).name.removesuffix(".py") in _KERNEL_MODULES for word in words)
