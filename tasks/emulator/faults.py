"""Faults one request asks for through the `x-emulator-fault` and `x-emulator-latency` headers, and the
network faults the configuration draws: what happens to a started job's answer on its way back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rowrelay.tasks.emulator.config import EmulatorConfig
from rowrelay.tasks.emulator.model import ForcedAnswer, ForcedFault, request_digest, uniforms
from rowrelay.tasks.emulator.occurrences import Occurrences

NetworkKind = Literal["gateway", "hang", "cut-before-events", "empty-stream", "skip-created"]
GATEWAY_STATUSES = (502, 503, 504)
_STREAM_ONLY: frozenset[str] = frozenset({"cut-before-events", "empty-stream", "skip-created"})
_NETWORK: frozenset[str] = frozenset({"gateway", "hang"}) | _STREAM_ONLY


@dataclass(frozen=True, slots=True)
class NetworkFault:
    """Something between the API and its client loses the answer; the job itself starts and runs.

    `str()` gives the header's spelling (`gateway=502`, `hang`, ...), which the inspection routes report."""

    kind: NetworkKind
    status: int = 0  # gateway only: the status the gateway answers with

    @property
    def stream_only(self) -> bool:
        """Only a stream create can meet it (there are no events to lose in a JSON answer)."""
        return self.kind in _STREAM_ONLY

    def __str__(self) -> str:
        return f"gateway={self.status}" if self.kind == "gateway" else self.kind

    @classmethod
    def parse(cls, name: str, value: str) -> NetworkFault:
        if name == "gateway":
            if value not in {str(status) for status in GATEWAY_STATUSES}:
                raise ValueError(f"x-emulator-fault gateway={value}: expected 502, 503 or 504")
            return cls("gateway", int(value))
        return cls(name)  # type: ignore[arg-type]  # the caller checked `name` against _NETWORK


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults forced on one request through the `x-emulator-fault` and `x-emulator-latency` headers."""

    outcome: ForcedFault | None = None
    http_error: bool = False
    rate_limited: bool = False
    drop_after: int | None = None
    latency: float | None = None
    network: NetworkFault | None = None
    answer: ForcedAnswer | None = None

    @classmethod
    def parse(cls, fault_header: str | None, latency_header: str | None) -> Faults:
        outcome: ForcedFault | None = None
        http_error = rate_limited = False
        drop_after: int | None = None
        network: NetworkFault | None = None
        answer: ForcedAnswer | None = None
        for raw in (fault_header or "").split(","):
            name, _, value = raw.strip().partition("=")
            if name in ("fail", "incomplete", "stuck", "content-filter"):
                outcome = name  # type: ignore[assignment]
            elif name == "error":
                http_error = True
            elif name == "rate-limit":
                rate_limited = True
            elif name == "invalid-json":
                if value not in ("", "broken", "mismatch"):
                    raise ValueError(f"x-emulator-fault invalid-json={value}: expected broken or mismatch")
                answer = value or "invalid-json"  # type: ignore[assignment]  # checked just above
            elif name == "refusal":
                answer = "refusal"
            elif name == "drop-stream":
                drop_after = int(value or "1")
            elif name in _NETWORK:
                if network is not None:
                    # One answer can be lost only one way: asking for two is a mistake worth a 400.
                    raise ValueError(f"x-emulator-fault: {network} and {name} cannot be combined")
                network = NetworkFault.parse(name, value)
            elif name:
                raise ValueError(f"unknown x-emulator-fault {name!r}")
        latency = float(latency_header) if latency_header else None
        return cls(outcome, http_error, rate_limited, drop_after, latency, network, answer)


def draw_network_fault(
    config: EmulatorConfig, body: dict[str, Any], occurrences: Occurrences, *, stream: bool
) -> NetworkFault | None:
    """The network fault a create meets, drawn from the seed, the request and how many identical requests
    came before (so a retried row draws again). Stream-only faults are drawn for stream creates only."""
    rates = (config.gateway_error_rate, config.hang_rate)
    stream_rates = (config.stream_cut_rate, config.empty_stream_rate, config.skip_created_rate)
    if not any(rates) and not (stream and any(stream_rates)):
        return None  # the common case costs no hashing
    digest = request_digest(body)
    gateway, status, hang, *per_stream = uniforms(config.seed, digest, f"network|{occurrences[digest]}", 6)
    if gateway < config.gateway_error_rate:
        return NetworkFault("gateway", GATEWAY_STATUSES[min(2, int(status * 3))])
    if hang < config.hang_rate:
        return NetworkFault("hang")
    if stream:
        kinds: tuple[NetworkKind, ...] = ("cut-before-events", "empty-stream", "skip-created")
        for kind, u, rate in zip(kinds, per_stream, stream_rates, strict=True):
            if u < rate:
                return NetworkFault(kind)
    return None
