"""Whether the settings can authenticate to a backend: asked before a run starts (flows/precheck.py),
so without the SDK, which a refused run never needs."""

from __future__ import annotations

import importlib.util
from urllib.parse import urlsplit

from pydantic import SecretStr

from rowrelay.tasks.setting_problems import given_as, one_of, option_of
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
            f"use {one_of('backend', ('azure',))}, or unset ROWRELAY_AZURE_AUTH"
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
        assert settings.azure_endpoint is not None  # not missing
        problem = azure_endpoint_problem(settings.azure_endpoint)
        if problem is not None:
            return f"{variable_of('azure_endpoint')} {settings.azure_endpoint} {problem}"
        if entra:
            return _identity_problem()
    if backend in ("openai", "chat", "agent") and not key_set(settings.api_key):
        if settings.azure_endpoint is not None and settings.base_url is None:
            # Azure is configured, so an OpenAI key is not what is missing: this backend does not go there.
            on_azure = one_of("backend", ("azure",))
            if backend == "agent":
                on_azure += f" {given_as('agent', 'MODULE:FUNCTION')}"
            return (
                f"{one_of('backend', (backend,))} runs on OpenAI or an OpenAI-compatible "
                f"{option_of('base_url')}, not on the Azure "
                f"OpenAI resource AZURE_OPENAI_ENDPOINT names: use {on_azure} (the Responses API, in "
                "background mode), or set OPENAI_API_KEY to run on OpenAI"
            )
        return (
            "no API key: set OPENAI_API_KEY (or ROWRELAY_API_KEY; a server that checks none takes any "
            f"value), or use {one_of('backend', ('emulator',))}"
        )
    return _unsendable(settings, backend)


def azure_endpoint_problem(endpoint: str) -> str | None:
    """Why `endpoint`, an Azure OpenAI endpoint ending in `/openai` or `/openai/v1`, reaches no API, with
    the form that does, in words that follow the endpoint's name and value; None for any other. The SDK's
    Azure client adds `/openai` itself and sends an `api-version` (`ENDPOINT/openai/responses?api-version=
    ...`), so either doubled the route and every create met a 404: found only at the first create, after
    Prefect and the run had started. Azure's v1 API (`/openai/v1`, no api-version) is an OpenAI-compatible
    server: the SDK's plain client reaches it at that base URL with the resource's key, as Microsoft's
    documentation shows, and so does `--backend openai`."""
    stripped = endpoint.rstrip("/")
    path = urlsplit(stripped).path
    tail = next((tail for tail in ("/openai", "/openai/v1") if path.endswith(tail)), None)
    if tail is None:
        return None
    root, sent = stripped.removesuffix(tail), f"{stripped}/openai/responses?api-version=..."
    if tail == "/openai":
        return (
            f"ends in /openai, which the Azure client adds itself (requests would go to {sent}): give the "
            f"resource's root, {root}"
        )
    return (
        f"ends in /openai/v1, Azure's v1 API, which {one_of('backend', ('azure',))} does not use: its client "
        "adds /openai "
        f"itself and sends an api-version (requests would go to {sent}). Give the resource's root, {root}, "
        "or run on the v1 API as an OpenAI-compatible server: "
        f"{one_of('backend', ('openai',))} {one_of('base_url', (stripped,))}, the "
        "resource's key as OPENAI_API_KEY"
    )


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
