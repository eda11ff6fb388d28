"""Replicas behind a load balancer, each holding only the responses it made (`EmulatorConfig.replicas`).

vLLM keeps responses in its own process's memory: behind a load balancer over several replicas, a poll
reaches the replica that made its response only by chance, and the others answer 404 as for a response
they never held. A client that takes such a 404 for an expired response creates its row again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rowrelay.tasks.emulator.model import uniforms


@dataclass
class Replicas:
    """Which replica made each response; each request goes to one drawn from the seed and its turn."""

    count: int = 1
    seed: int = 0
    homes: dict[str, int] = field(default_factory=dict)
    _routed: int = 0

    def made(self, response_id: str) -> None:
        """A create reached a replica, which now holds its response."""
        if self.count > 1:
            self.homes[response_id] = self._next()

    def holds(self, response_id: str) -> bool:
        """Whether the replica this retrieve, stream resume or cancel reaches made the response: always,
        with one replica."""
        home = self.homes.get(response_id)
        return home is None or self._next() == home

    def forget(self, response_id: str) -> None:
        self.homes.pop(response_id, None)

    def _next(self) -> int:
        turn, self._routed = self._routed, self._routed + 1
        return int(uniforms(self.seed, b"replicas", str(turn), 1)[0] * self.count)
