"""Ports of long-lived services (the local Prefect server) come from below the kernel's range for
outgoing connections, where no client socket can take one while its service is down."""

from __future__ import annotations

import socket

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
