"""Faults one request asks for through the `x-emulator-fault` and `x-emulator-latency` headers."""

from __future__ import annotations

from dataclasses import dataclass

from rowrelay.tasks.emulator.model import ForcedFault


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults forced on one request through the `x-emulator-fault` and `x-emulator-latency` headers."""

    outcome: ForcedFault | None = None
    http_error: bool = False
    rate_limited: bool = False
    drop_after: int | None = None
    latency: float | None = None

    @classmethod
    def parse(cls, fault_header: str | None, latency_header: str | None) -> Faults:
        outcome: ForcedFault | None = None
        http_error = rate_limited = False
        drop_after: int | None = None
        for raw in (fault_header or "").split(","):
            name, _, value = raw.strip().partition("=")
            if name in ("fail", "incomplete", "stuck"):
                outcome = name  # type: ignore[assignment]
            elif name == "error":
                http_error = True
            elif name == "rate-limit":
                rate_limited = True
            elif name == "drop-stream":
                drop_after = int(value or "1")
            elif name:
                raise ValueError(f"unknown x-emulator-fault {name!r}")
        latency = float(latency_header) if latency_header else None
        return cls(outcome, http_error, rate_limited, drop_after, latency)
