"""A Dask preload for the workers of the cluster `rowrelay run --dask-workers N` starts: they leave Ctrl-C
to the run.

A terminal's Ctrl-C goes to its whole foreground process group, and a LocalCluster's worker processes
are in the command's: each took it as its own stop and closed, its shards and their responses with it
before the run's stop could reach them (`flows.cluster_stop`), so 20 responses in flight were left in
progress on the server, not cancelled. Ignoring SIGINT here leaves the stop to the command, which cancels
the shards' responses on the workers, as on a cluster of the user's own; the workers end with the
cluster as the command closes it (their nannies terminate them).
"""

from __future__ import annotations

import logging
import signal

log = logging.getLogger("rowrelay.cluster")

PRELOAD = __name__
"""What `LocalCluster(preload=[...])` is given."""


def dask_setup(worker: object) -> None:
    """Run by Dask in each worker process as it starts, on its main thread's loop."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError as exc:  # not the main thread (a worker in a thread): Ctrl-C is not its anyway
        log.debug("a worker's Ctrl-C is left as it is: %s", exc)
