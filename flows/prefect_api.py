"""The Prefect API a user configured, if any, and whether it answers before a run counts on it.

Which API: asked without importing Prefect (1.7 s) where no source Prefect reads could name one, so a
machine's first run starts rowrelay's own server that much sooner (flows/local_prefect.py).

Whether it answers: Prefect's engine asks the API its version before a flow starts, and an API that does
not answer (a server stopped, a mistyped port) ended the run there with seventy lines of traceback and
exit 1. `ApiProbe` asks it for its health in a thread while the run imports Prefect and reads its input,
so the run refuses in one line before anything is sent, at no cost in time when it answers. What the
engine itself refuses about its API at that first call (`engine_refusal`) is said in one line too.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import httpx

_PROBE_SECONDS = 10.0
"""How long an API gets to accept a connection: a remote one (Prefect Cloud) may be far away."""


def configured_api() -> str | None:
    """The Prefect API the user configured (environment, profile, prefect.toml, .env), if any."""
    if not _may_name_an_api():
        return None
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def _may_name_an_api() -> bool:
    """False only when no source Prefect reads its settings from could name an API: answered without
    importing Prefect (1.7 s), so a machine's first run starts its server that much sooner. A process
    that imported Prefect already asks it (that is free then, and its settings may be overridden in the
    process: `temporary_settings`)."""
    return "prefect.settings" in sys.modules or _sources_may_name_an_api()


def _sources_may_name_an_api() -> bool:
    """Whether the environment or a settings file Prefect reads could name an API. Any doubt (a profile
    or `.env` mentioning the API, a `prefect.toml`, a `[tool.prefect]` table) says yes."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("PREFECT_PROFILE"):
        return True  # a profile chosen by name may be one of Prefect's own, which name an API
    prefect_home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home / "profiles.toml").expanduser()
    mentions = (
        (profiles, "PREFECT_API_URL"),
        (Path(".env"), "PREFECT_API_URL"),
        (Path("prefect.toml"), ""),
        (Path("pyproject.toml"), "tool.prefect"),
    )
    return any(_mentions(path, text) for path, text in mentions)


def _mentions(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        return True  # unreadable to us: Prefect decides


class ApiProbe:
    """Whether the API at `url` can be reached at all, asked in a thread from construction on. Only a
    connection that fails counts: any answer, even a 401 or a 404 (an API without `/health`), shows a
    server there, which Prefect's client then deals with as it would have."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._problem: str | None = None
        self._thread = threading.Thread(target=self._ask, name="rowrelay-api-probe", daemon=True)
        self._thread.start()

    def _ask(self) -> None:
        try:
            # Unverified: no key goes with it, and a certificate Prefect is told to accept
            # (PREFECT_API_TLS_INSECURE_SKIP_VERIFY, its own CA file) must not read as no server.
            httpx.get(f"{self.url.rstrip('/')}/health", timeout=_PROBE_SECONDS, verify=False)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            self._problem = str(exc) or type(exc).__name__
        except httpx.HTTPError:
            pass  # it accepted the connection: a server is there

    def problem(self) -> str | None:
        """Why the API cannot be reached, or None (it answered, or is still answering: Prefect waits)."""
        self._thread.join(_PROBE_SECONDS + 1)
        return self._problem


def engine_refusal(exc: RuntimeError, *, configured: bool) -> str | None:
    """What Prefect's engine refused about its API before the flow started, as the command says it in
    one line; None for any other error. Its first call asks the API's version: an address that answers
    but is no Prefect API (the UI's address, without `/api`, is the likely one), a server of another
    major version, or rowrelay's own server stopped in the second before (`configured`: whether the
    user named the API) ended the run there with a traceback."""
    text = str(exc)
    if text.startswith("Failed to reach API at "):
        url = text.removeprefix("Failed to reach API at ").rstrip("/")
        cause = _said(exc.__cause__)
        if not configured:
            return (
                f"the local Prefect server at {url} stopped answering as the run started ({cause}); run "
                "the same command again; nothing was sent"
            )
        return (
            f"{url} does not answer as a Prefect API ({cause}); PREFECT_API_URL names the API, which ends "
            "in /api (`rowrelay services` shows the local server's); nothing was sent"
        )
    if text.startswith("Found incompatible versions"):
        said = text.rstrip(".")
        return f"the Prefect API this run is configured to record in cannot take it: {said}; nothing was sent"
    return None


def _said(cause: BaseException | None) -> str:
    if isinstance(cause, httpx.HTTPStatusError):
        answer = cause.response
        return f"{cause.request.method} {cause.request.url.path}: {answer.status_code} {answer.reason_phrase}"
    return "no answer" if cause is None else str(cause).splitlines()[0]
