"""Whether a run can sign in to its servers and reach them, checked before anything starts (`precheck`):
each endpoint's key (or Azure endpoint and key, or Entra ID sign-in) and the form of its Azure endpoint,
and the proxy the environment names for each server being one the lean transport can speak to. Found only
when the flow built its clients, each problem had already started Prefect's run and written the state
directory; here each is one `UsageError` naming the endpoint or the setting.
"""

from __future__ import annotations

from rowrelay.flows.backends import backend_name
from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.credentials import azure_endpoint_problem, credentials_problem
from rowrelay.tasks.run.endpoints import Endpoint
from rowrelay.tasks.setting_problems import given_as

__all__ = ["check_keys", "check_proxies", "key_problem"]


def key_problem(endpoint: Endpoint, where: str = "--endpoints") -> str | None:
    """What an endpoint lacks to authenticate, in one line (checked before the run starts), else None."""
    settings, said = endpoint.settings, f"{where}: endpoint {endpoint.name!r}"
    backend = backend_name(settings)
    problem = credentials_problem(settings, backend)
    if problem is None:
        return None
    if backend != "azure" and settings.azure_auth == "entra":
        return (
            f"{said}: Microsoft Entra ID (azure_auth = entra, or ROWRELAY_AZURE_AUTH=entra) signs in to "
            f"Azure OpenAI only, and this endpoint's backend is {backend}"
        )
    if backend == "azure" and settings.azure_endpoint:  # its form: a problem whatever the key
        form = azure_endpoint_problem(settings.azure_endpoint)
        if form is not None:
            return f"{said}: azure_endpoint {settings.azure_endpoint} {form}"
    if backend == "azure" and settings.azure_auth == "entra":
        return (
            f"{said}: {problem}"
            if settings.azure_endpoint
            else f"{said}: the azure backend needs azure_endpoint"
        )
    if backend == "azure":
        return f"{said}: the azure backend needs azure_endpoint and azure_api_key_env (or AZURE_OPENAI_*)"
    return f"{said}: no API key: name the variable holding it with api_key_env (or set OPENAI_API_KEY)"


def check_keys(request: BatchRequest) -> None:
    """Each endpoint, or the run's own settings, can authenticate: an API key (or Azure endpoint and key)
    from somewhere. Found out only when the flow built its clients, a missing key had already started
    Prefect's run and written the state directory."""
    if not request.endpoints:
        problem = credentials_problem(request.settings, backend_name(request.settings))
        if problem is not None:
            raise UsageError(problem)
    source = request.endpoints_source
    where = given_as("endpoints", source) if isinstance(source, str) else "endpoints"
    for endpoint in request.endpoints:
        problem = key_problem(endpoint, where)
        if problem is not None:
            raise UsageError(problem)


_OPENAI = "https://api.openai.com/v1"
"""Where the SDK sends a run with no base URL."""


def check_proxies(request: BatchRequest) -> None:
    """The proxy the environment names for each server the run's lean transport reaches (the Responses
    backends: `wire.py`) is one it can speak to (`proxies.proxy_for`). Found when the flow built its
    clients, a SOCKS proxy stopped the run after Prefect had started, or, where httpx lacks its SOCKS
    support, in a traceback from the first request to Prefect's server."""
    from rowrelay.tasks.llm.proxies import proxy_for  # httpx: only for the runs that reach a server

    for settings in [endpoint.settings for endpoint in request.endpoints] or [request.settings]:
        backend = backend_name(settings)
        if settings.transport != "lean" or backend not in ("openai", "azure", "emulator"):
            continue  # the SDK's own transport, Chat Completions and agents go through httpx's
        url = settings.azure_endpoint if backend == "azure" else settings.base_url
        if url is None and backend == "emulator":
            continue  # the embedded emulator, on this machine's loopback: reached directly
        proxy_for(url or _OPENAI)
