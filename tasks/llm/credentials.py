"""Whether the settings can authenticate to a backend: asked before a run starts (flows/precheck.py),
so without the SDK, which a refused run never needs."""

from __future__ import annotations

import importlib.util

from pydantic import SecretStr

from rowrelay.tasks.settings import Settings, variable_of
from rowrelay.tasks.unsendable_keys import unsendable_key

_ENTRA_INSTEAD = ", or ROWRELAY_AZURE_AUTH=entra to sign in with Microsoft Entra ID"


def key_set(key: SecretStr | None) -> bool:
    """Whether a key is configured: an empty variable (`OPENAI_API_KEY=`) is none, as an unset one is.
    Taken as a key, `auto` chose OpenAI over the emulator or Azure, and every request went out with
    `Bearer ` and nothing after it; an empty AZURE_OPENAI_API_KEY was already none."""
    return key is not None and key.get_secret_value() != ""


def credentials_problem(settings: Settings, backend: str) -> str | None:
    """What the settings lack to authenticate to `backend` (`auto` resolved), in one line; None if nothing.
    Asked before a run starts (flows/precheck.py) and where its clients are built."""
    if settings.azure_auth == "entra" and backend != "azure":  # else it would be ignored without a word
        return (
            f"ROWRELAY_AZURE_AUTH=entra signs in to Azure OpenAI only, and this run's backend is {backend}: "
            "use --backend azure, or unset ROWRELAY_AZURE_AUTH"
        )
    if backend == "azure":
        entra = settings.azure_auth == "entra"
        needed = [("AZURE_OPENAI_ENDPOINT", bool(settings.azure_endpoint))]
        if not entra:
            needed.append(("AZURE_OPENAI_API_KEY", key_set(settings.azure_api_key)))
        missing = [name for name, given in needed if not given]
        if missing:  # named alone when the other is set: the user is looking for the one that is not
            keyless = "" if entra or settings.azure_endpoint is None else _ENTRA_INSTEAD
            return f"the azure backend needs {' and '.join(missing)} (not set){keyless}"
        if entra:
            return _identity_problem()
    if backend in ("openai", "chat", "agent") and not key_set(settings.api_key):
        if settings.azure_endpoint is not None and settings.base_url is None:
            # Azure is configured, so an OpenAI key is not what is missing: this backend does not go there.
            on_azure = "--backend azure" if backend != "agent" else "--backend azure --agent MODULE:FUNCTION"
            return (
                f"--backend {backend} runs on OpenAI or an OpenAI-compatible --base-url, not on the Azure "
                f"OpenAI resource AZURE_OPENAI_ENDPOINT names: use {on_azure} (the Responses API, in "
                "background mode), or set OPENAI_API_KEY to run on OpenAI"
            )
        return (
            "no API key: set OPENAI_API_KEY (or ROWRELAY_API_KEY; a server that checks none takes any "
            "value), or use --backend emulator"
        )
    return _unsendable(settings, backend)


def _unsendable(settings: Settings, backend: str) -> str | None:
    """Why the key this backend sends cannot go in a header (a line break), naming its variable."""
    if backend == "azure" and settings.azure_auth == "entra":
        return None  # no key is sent: a token is
    field = "azure_api_key" if backend == "azure" else "api_key"  # the emulator is sent the key too
    key = getattr(settings, field)
    return None if key is None else unsendable_key(key.get_secret_value(), variable_of(field))


def _identity_problem() -> str | None:
    """Why Microsoft Entra ID cannot be used here (azure-identity is not installed), in one line; None if
    it can. Found without importing the package (a second of imports for a refused run)."""
    try:
        found = importlib.util.find_spec("azure.identity") is not None
    except ModuleNotFoundError:  # no `azure` namespace at all: finding a submodule imports its parent
        found = False
    if not found:
        return (
            "signing in with Microsoft Entra ID needs azure-identity, which is not installed: "
            "pip install 'rowrelay[azure]'"
        )
    return None
