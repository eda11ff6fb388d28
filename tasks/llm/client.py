"""Client factory: OpenAI, Azure OpenAI, any OpenAI-compatible base URL, or the emulator.

Transport retries are set explicitly. Creates get `max_retries=0`: the SDK sends no Idempotency-Key and
retries timeouts, 408, 409, 429 and 5xx, so a create retried after a read timeout may start a second
background job that is paid for and never seen. Instead, the runner treats a create that got no answer
as *maybe created*: the row counts an attempt and an orphan (with a note saying why) and is resubmitted
under the row's attempt budget, so any duplicate is bounded, counted and visible rather than silent.
Background creates return at once, so such timeouts are rare. Polls, resumes and cancels are
idempotent: the SDK retries them.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx2
import openai

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.agent_code_errors import note_request
from rowrelay.tasks.llm.agent_transport import transport_of
from rowrelay.tasks.llm.calls import Backend
from rowrelay.tasks.llm.chat_backend import ChatBackend
from rowrelay.tasks.llm.credentials import credentials_problem
from rowrelay.tasks.llm.entra import ROLE_NEEDED, EntraTokens
from rowrelay.tasks.llm.open_files import claim_files
from rowrelay.tasks.llm.responses_backend import HeadersHook, ResponsesBackend, TakenHook
from rowrelay.tasks.settings import Settings

if TYPE_CHECKING:
    from rowrelay.tasks.llm.agent_backend import AgentSource

EMULATOR_KEY = "rowrelay-emulator"  # the embedded emulator checks no key; the SDK insists on one


_CONNECTIONS = 100
"""HTTP connections per client. The SDK's default pool allows 1,000 but keeps 100 alive, and httpcore
scans every pooled connection whenever a request ends: with ~1,000 rows polling at once the runner
spent most of its CPU opening, scanning and closing connections (tests/benchmarks/bench_overhead.py).
Background calls are short, so a pool that keeps every connection it opens serves them well."""


def _timeout(settings: Settings, backend: str) -> openai.Timeout:
    if backend == "chat":
        # A chat create's answer comes only once it is whole: the wait for it (`read`) is the model's
        # whole generation (tasks/llm/chat_timeouts.py). Connecting, sending and the pool keep theirs.
        return openai.Timeout(settings.request_timeout, connect=5.0, read=settings.chat_timeout)
    return openai.Timeout(settings.request_timeout, connect=5.0)


def _connections(settings: Settings) -> int:
    # A stream holds its connection for the response's whole life, and a chat create for its answer's:
    # room for every row in flight at once.
    holding = settings.mode == "stream" or settings.backend == "chat"
    return _CONNECTIONS + (settings.max_in_flight if holding else settings.poll_streams)


def _pool(settings: Settings, *, watched: bool = False) -> httpx2.AsyncClient:
    """`watched`: each request says it leaves (`agent_code_errors.note_request`), for an agent's calls,
    which run the caller's code around their creates; the others' calls are rowrelay's alone."""
    size = _connections(settings)
    limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size)
    hooks = {"request": [note_request]} if watched else {}
    return openai.DefaultAsyncHttpx2Client(limits=limits, verify=tls_context(), event_hooks=hooks)


def tls_context() -> ssl.SSLContext:
    """The TLS context every client of this process shares, as httpx would make it (the CA bundle,
    `SSL_CERT_FILE` or `SSL_CERT_DIR`). Making one loads the bundle: 50-60 ms of CPU on this machine,
    and a run made two of them on its way to its first create (py-spy of a warm `rowrelay run`). The
    warm runner makes it before it forks the commands (keyed on those variables, which a command may set
    otherwise)."""
    return _tls_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx2.create_ssl_context()  # reads the same variables


def _clients(
    settings: Settings, backend: str, base_url: str | None, *, watched: bool = False
) -> tuple[openai.AsyncOpenAI, openai.AsyncOpenAI]:
    problem = credentials_problem(settings, backend)
    if problem is not None:
        raise UsageError(problem)
    # Both clients share one token, so it is fetched once for the run, not once per client.
    tokens = (
        EntraTokens.for_endpoint(settings.azure_endpoint or "")
        if _signs_in_with_entra(settings, backend)
        else None
    )

    def make(retries: int) -> openai.AsyncOpenAI:
        if backend == "azure":
            assert settings.azure_endpoint, "checked by credentials_problem"
            auth: dict[str, Any]
            if tokens is not None:
                auth = {"azure_ad_token_provider": tokens}
            else:
                assert settings.azure_api_key is not None, "checked by credentials_problem"
                auth = {"api_key": settings.azure_api_key.get_secret_value()}
            return openai.AsyncAzureOpenAI(
                azure_endpoint=settings.azure_endpoint,
                api_version=settings.azure_api_version,
                max_retries=retries,
                timeout=_timeout(settings, backend),
                http_client=_pool(settings, watched=watched),
                **auth,
            )
        # No key passes the check above only for the emulator, which takes its own.
        key = settings.api_key.get_secret_value() if settings.api_key else EMULATOR_KEY
        return openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            max_retries=retries,
            timeout=_timeout(settings, backend),
            http_client=_pool(settings, watched=watched),
        )

    return make(0), make(settings.transport_retries)


def _signs_in_with_entra(settings: Settings, backend: str) -> bool:
    return backend == "azure" and settings.azure_auth == "entra"


def make_backend(
    settings: Settings,
    *,
    base_url: str | None = None,
    on_headers: HeadersHook | None = None,
    agent: AgentSource | None = None,
    on_taken: TakenHook | None = None,
) -> Backend:
    """Build the backend the settings name (`auto` must be resolved by the caller first).

    `on_headers` and `on_taken` tell the rate budget what the server answered (a Responses backend's).
    With an `agent` (an Agent Framework agent, or a factory taking an `OpenAIChatClient`), rows are run
    by that agent over the transport the settings name (emulator, openai, azure); backend `agent` with
    no agent runs rowrelay's plain agent over OpenAI or the configured base URL.
    """
    backend = settings.backend
    url = base_url or settings.base_url
    if backend == "auto":
        raise UsageError("backend 'auto' must be resolved before building a client")
    if backend == "emulator" and url is None:
        raise UsageError("the emulator backend needs its base URL")
    if agent is not None or backend == "agent":
        return _agent_backend(settings, url, agent)
    creates, reads = _clients(settings, backend, url)
    connections = _connections(settings)
    made: Backend
    if backend == "chat":
        made = ChatBackend("chat", creates)  # a create is never retried: it may have started a paid job
    else:
        made = ResponsesBackend(
            backend,
            creates,
            reads,
            on_headers,
            transport=settings.transport,
            connections=connections,
            refused_hint=ROLE_NEEDED if _signs_in_with_entra(settings, backend) else None,
            logprobs=settings.logprobs is not None,
            on_taken=on_taken,
        )
    claim_files(made, 2 * connections)  # two clients: creates and reads
    return made


def _agent_backend(settings: Settings, url: str | None, agent: AgentSource | None) -> Backend:
    # Agent Framework (an optional extra) is imported only when an agent runs rows.
    from rowrelay.tasks.llm.agent_backend import AgentBackend, default_agent, is_agent

    if settings.backend == "chat":
        raise UsageError("an agent runs on the Responses API: use it with emulator, openai or azure")
    source = default_agent if agent is None else agent
    if is_agent(source):
        return AgentBackend(source)  # the caller's agent on the caller's client
    transport = transport_of(settings.backend)
    creates, reads = _clients(settings, transport, url, watched=True)
    return AgentBackend(source, creates=creates, reads=reads, model=settings.model, watched=True)


def describe(settings: Settings, base_url: str | None) -> Mapping[str, str]:
    """What a run talks to, safe to print or log (never the key)."""
    # Azure's client goes to its endpoint alone, whatever base URL is set beside it (OPENAI_BASE_URL).
    given = settings.azure_endpoint if settings.backend == "azure" else base_url or settings.base_url
    where = given or "https://api.openai.com/v1"
    return {"backend": settings.backend, "base_url": where, "model": settings.model}
