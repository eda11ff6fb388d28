"""Where a run's rows go: one target per endpoint (`--endpoints`), or the run's own settings alone.

    settings, url, targets = resolve_targets(request)   # `auto` resolved, the embedded emulator started
                                                        # only when a target needs it

A target is what one session (backend + rate budget) is built from: an endpoint's name (None without
endpoints), its full settings and its base URL. With endpoints the run's own settings only supply what
entries leave out, and what the whole batch shares (the cost cap, the model it is labelled with), so
they start no emulator of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rowrelay.flows.backends import backend_name, resolve_backend
from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.run.endpoints import Endpoint
from rowrelay.tasks.settings import Settings

__all__ = ["Target", "check_keys", "key_problem", "recorded_endpoints", "resolve_targets"]


@dataclass(frozen=True)
class Target:
    endpoint: str | None
    settings: Settings
    """The endpoint's full settings, `backend` resolved (never `auto`)."""
    url: str | None
    entry: dict[str, Any] | None = None
    """The endpoints file's entry, as given (nothing secret): what run.json records."""


def resolve_targets(request: BatchRequest) -> tuple[Settings, str | None, list[Target]]:
    """The run's settings and base URL (`auto` resolved), and the targets its sessions are built for."""
    if not request.endpoints:
        settings, url = resolve_backend(request.settings)
        return settings, url, [Target(None, settings, url)]
    base = request.settings
    settings = base.model_copy(update={"backend": backend_name(base)})
    return settings, base.base_url, [_target(endpoint) for endpoint in request.endpoints]


def _target(endpoint: Endpoint) -> Target:
    settings, url = resolve_backend(endpoint.settings)
    return Target(endpoint.name, settings, url, endpoint.entry.model_dump(exclude_none=True))


def recorded_endpoints(targets: Sequence[Target]) -> list[dict[str, Any]] | None:
    """The endpoints as run.json records them for `rowrelay cancel`: each entry with its backend and base
    URL resolved. Entries hold the names of the variables with keys, never a key."""
    if targets[0].endpoint is None:
        return None
    return [
        {**(target.entry or {}), "backend": target.settings.backend, "base_url": target.url}
        for target in targets
    ]


def key_problem(endpoint: Endpoint) -> str | None:
    """What an endpoint lacks to authenticate, in one line (checked before the run starts), else None."""
    settings, said = endpoint.settings, f"--endpoints: endpoint {endpoint.name!r}"
    backend = backend_name(settings)
    if backend == "azure" and (not settings.azure_endpoint or settings.azure_api_key is None):
        return f"{said}: the azure backend needs azure_endpoint and azure_api_key_env (or AZURE_OPENAI_*)"
    if backend in ("openai", "chat", "agent") and settings.api_key is None:
        return f"{said}: no API key: name the variable holding it with api_key_env (or set OPENAI_API_KEY)"
    return None


def check_keys(endpoints: Sequence[Endpoint]) -> None:
    for endpoint in endpoints:
        problem = key_problem(endpoint)
        if problem is not None:
            raise UsageError(problem)
