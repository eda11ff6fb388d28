"""Choosing what a run talks to. With no key and no base URL, the embedded emulator: nothing to set up."""

from __future__ import annotations

import contextlib
import logging

from rowrelay.flows.embedded import ensure_emulator, kept_up
from rowrelay.tasks.settings import Settings

log = logging.getLogger("rowrelay.backend")


def backend_name(settings: Settings) -> str:
    """The backend a run with these settings talks to: `auto` resolved, nothing started."""
    if settings.backend != "auto":
        return settings.backend
    # Only Azure signs in with Entra ID: an OpenAI key set as well is not the one meant.
    if settings.azure_auth == "entra":
        return "azure"
    if settings.api_key is not None or settings.base_url:
        return "openai"
    return "azure" if settings.azure_endpoint else "emulator"


def needs_embedded_emulator(settings: Settings) -> bool:
    """Whether a run with these settings talks to the embedded emulator (which `resolve_backend` starts)."""
    return backend_name(settings) == "emulator" and not settings.base_url


def resolve_backend(settings: Settings) -> tuple[Settings, str | None]:
    """Resolve `auto` and start the embedded emulator when needed; returns the settings and base URL."""
    backend = backend_name(settings)
    url = settings.base_url
    update: dict[str, object] = {"backend": backend}
    if needs_embedded_emulator(settings):
        url, started = ensure_emulator(settings.home, settings.emulator_args)
        verb = "started" if started else "reusing"
        why = "backend emulator" if settings.backend == "emulator" else "no API key or base URL configured"
        log.warning("%s the embedded emulator at %s (%s)", verb, url, why)
        # It checks no key: one set for a real server (OPENAI_API_KEY beside --backend emulator) stays
        # out of its requests, and the client sends the emulator's own (`client.EMULATOR_KEY`).
        update["api_key"] = None
    return settings.model_copy(update=update), url


def embedded_kept_up(settings: Settings, url: str | None) -> contextlib.AbstractContextManager[None]:
    """For a run on the embedded emulator, keep it up while the block runs (`embedded.kept_up`)."""
    if url is None or not needs_embedded_emulator(settings):
        return contextlib.nullcontext()
    return kept_up(settings.home, settings.emulator_args, url, log.warning)
