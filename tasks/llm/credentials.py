"""Whether the settings can authenticate to a backend: asked before a run starts (flows/precheck.py),
so without the SDK, which a refused run never needs."""

from __future__ import annotations

from rowrelay.tasks.settings import Settings


def credentials_problem(settings: Settings, backend: str) -> str | None:
    """What the settings lack to authenticate to `backend` (`auto` resolved), in one line; None if nothing.
    Asked before a run starts (flows/precheck.py) and where its clients are built."""
    if backend == "azure":
        missing = [
            name
            for name, value in (
                ("AZURE_OPENAI_ENDPOINT", settings.azure_endpoint),
                ("AZURE_OPENAI_API_KEY", settings.azure_api_key),
            )
            if not value
        ]
        if missing:  # named alone when the other is set: the user is looking for the one that is not
            return f"the azure backend needs {' and '.join(missing)} (not set)"
    if backend in ("openai", "chat", "agent") and settings.api_key is None:
        return (
            "no API key: set OPENAI_API_KEY (or ROWRELAY_API_KEY; a server that checks none takes any "
            "value), or use --backend emulator"
        )
    return None
