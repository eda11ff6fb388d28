"""Choosing what a run talks to. With no key and no base URL, the embedded emulator: nothing to set up."""

from __future__ import annotations

import logging

from rowrelay.flows.embedded import ensure_emulator
from rowrelay.tasks.settings import Settings

log = logging.getLogger("rowrelay.backend")


def resolve_backend(settings: Settings) -> tuple[Settings, str | None]:
    """Resolve `auto` and start the embedded emulator when needed; returns the settings and base URL."""
    backend = settings.backend
    if backend == "auto":
        if settings.api_key is not None or settings.base_url:
            backend = "openai"
        elif settings.azure_endpoint:
            backend = "azure"
        else:
            backend = "emulator"
    url = settings.base_url
    if backend == "emulator" and not url:
        url, started = ensure_emulator(settings.home, settings.emulator_args)
        verb = "started" if started else "reusing"
        log.warning("no API key or base URL configured: %s the embedded emulator at %s", verb, url)
    return settings.model_copy(update={"backend": backend}), url
