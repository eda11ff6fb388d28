"""A loopback address where nothing answers, held for as long as a test needs it.

A port picked as free (`free_port`) is only free at that instant: another test worker's server bound to
port 0 once got the very port a run was left waiting on, and answered it (both tests failed, in a CI
run). A socket bound to the port and not listening keeps it from every other process, and the kernel
refuses each connection to it, as to a port where nothing runs.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def dark_port() -> Iterator[int]:
    """A loopback port where every connection is refused and that no other process can take, for the
    block."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound, never listening: connections get ECONNREFUSED
        yield held.getsockname()[1]
