"""Ports of long-lived services (the local Prefect server) come from below the kernel's range for
outgoing connections, where no client socket can take one while its service is down."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

from rowrelay.flows import detached


def test_a_service_port_is_below_the_ports_connections_get_and_the_same_at_each_start() -> None:
    port = detached.service_port("/home/someone/.rowrelay")
    assert port < detached.ephemeral_floor()
    assert detached.service_port("/home/someone/.rowrelay") == port
    with socket.create_server(("127.0.0.1", 0)) as listening:
        outgoing = socket.create_connection(listening.getsockname())
        with outgoing:
            assert outgoing.getsockname()[1] >= detached.ephemeral_floor()  # what the range is for


def test_a_taken_service_port_gives_the_next_free_one() -> None:
    port = detached.service_port("/home/another/.rowrelay")
    with socket.create_server(("127.0.0.1", port)):
        assert not detached.port_free(port)
        taken = detached.service_port("/home/another/.rowrelay")
    assert taken != port
    assert taken < detached.ephemeral_floor()
    assert detached.service_port("/home/another/.rowrelay") == port  # free again: back to its own


def test_a_port_still_held_by_a_server_on_its_way_out_is_waited_for() -> None:
    """A killed server reads as gone (its command line is empty from the start of its exit) before its
    listening socket closes: the restart on its port waits for the port instead of giving up on it,
    which once left a run's Prefect server down for good (seen twice in loaded CI runs)."""
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    assert not detached.port_freed(port, within=0)  # held, and no patience: not free
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(detached.port_freed, port, 120.0)  # the cap only ends a hang
        listening.close()  # the exit ends: the socket goes
        assert waiting.result() is True
