"""Microsoft Entra ID tokens for Azure OpenAI (`ROWRELAY_AZURE_AUTH=entra`): a resource whose keys are
turned off (`disableLocalAuth`, a common policy) takes only these.

The token comes from azure-identity's `DefaultAzureCredential` (an optional extra: `rowrelay[azure]`),
which tries, in order, a service principal's environment variables (`AZURE_CLIENT_ID`,
`AZURE_TENANT_ID`, `AZURE_CLIENT_SECRET`), workload identity, a managed identity, then `az login`'s
account. `EntraTokens` is the SDK's `azure_ad_token_provider` for both clients, and the lean transport
asks it for each call too (wire.py), so one token is shared by every call and fetched once per hour or so:
- it is fetched again `REFRESH_AHEAD` before it expires, by one caller while the others wait for it;
- a refresh that fails while the current token is still good keeps that token (said once in the log)
  and is tried again `RETRY_AFTER` later: a blip of the identity endpoint an hour into a batch does not
  stop it, nor does every call wait on a failing fetch;
- with no good token, the failure stops the run before anything is sent (`BackendRefusedError`, like a
  401), in one line saying how to sign in; the rows are left pending for the next run.
A credential is opened for each fetch and closed after it, so nothing outlives the run.

An endpoint in Azure Government (`*.azure.us`) or Azure China (`*.azure.cn`) gets that cloud's scope and
signs in at that cloud's authority (unless `AZURE_AUTHORITY_HOST` names one): with the public cloud's, its
tokens were refused, or never issued.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rowrelay.tasks.llm.calls import BackendRefusedError

if TYPE_CHECKING:  # azure-identity is an optional extra, imported only when Entra ID is asked for
    from azure.core.credentials import AccessToken
    from azure.core.credentials_async import AsyncTokenCredential

log = logging.getLogger(__name__)

SCOPE = "https://cognitiveservices.azure.com/.default"
"""What an Azure OpenAI token is for (Azure AI services' audience), in the public cloud."""
SOVEREIGN_CLOUDS = {
    ".azure.us": ("https://cognitiveservices.azure.us/.default", "login.microsoftonline.us"),
    ".azure.cn": ("https://cognitiveservices.azure.cn/.default", "login.chinacloudapi.cn"),
}
"""An endpoint's domain: its cloud's scope for Azure OpenAI and its Entra ID authority (Microsoft's
Azure Government and Azure China documentation)."""
REFRESH_AHEAD = 300.0
"""Seconds before expiry a token is fetched again: a call started now must not carry one that ends
while it is on its way. Entra ID's tokens last an hour or more."""
RETRY_AFTER = 30.0
"""Seconds between tries after a refresh failed while the current token is still good."""
ROLE_NEEDED = (
    "signed in with Microsoft Entra ID: the identity needs a role that may call the deployment, such as "
    "Cognitive Services OpenAI User, on this resource (a role just given takes up to 5 minutes to apply)"
)
"""What to check when Azure refuses a token it was given: the first cause people meet is no role yet, or
one given minutes ago."""
SIGN_IN = (
    "sign in with az login, or give a service principal (AZURE_CLIENT_ID, AZURE_TENANT_ID, "
    "AZURE_CLIENT_SECRET) or a managed identity"
)


def cloud_of(endpoint: str) -> tuple[str, str | None]:
    """The scope a token for `endpoint` is asked for, and the authority to ask (None: the default)."""
    host = (urlsplit(endpoint).hostname or "").lower()
    for domain, (scope, authority) in SOVEREIGN_CLOUDS.items():
        if host.endswith(domain):
            return scope, authority
    return SCOPE, None


def default_credential(authority: str | None = None) -> AsyncTokenCredential:
    from azure.identity.aio import DefaultAzureCredential

    if authority is None or os.environ.get("AZURE_AUTHORITY_HOST"):  # the user's own choice wins
        return DefaultAzureCredential()
    return DefaultAzureCredential(authority=authority)


class EntraTokens:
    """A bearer token for Azure OpenAI, kept until `REFRESH_AHEAD` before it expires; call it for the
    current one (the SDK's `azure_ad_token_provider`)."""

    def __init__(
        self,
        credential: Callable[[], AsyncTokenCredential] | None = None,
        clock: Callable[[], float] = time.time,
        scope: str = SCOPE,
    ) -> None:
        self._credential = credential or default_credential
        self._scope = scope
        self._clock = clock  # Entra ID's `expires_on` is epoch seconds
        self._token: str | None = None
        self._previous: str | None = None
        self._expires_on = 0.0
        self._refresh_at = 0.0
        self._fetching: asyncio.Lock | None = None
        self._told_failing = False

    @classmethod
    def for_endpoint(cls, endpoint: str) -> EntraTokens:
        """Tokens for the Azure OpenAI resource at `endpoint`, from its cloud."""
        scope, authority = cloud_of(endpoint)
        return cls(lambda: default_credential(authority), scope=scope)  # looked up at each fetch

    async def __call__(self) -> str:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        self._fetching = self._fetching or asyncio.Lock()
        async with self._fetching:  # one fetch for every caller that found the token due
            now = self._clock()
            if self._token is not None and now < self._refresh_at:
                return self._token  # fetched while this caller waited
            try:
                fetched = await self._fetch()
            except Exception as exc:
                return self._keep(now, _first_line(exc), exc)
            self._previous = self._token
            self._token, self._expires_on = fetched.token, float(fetched.expires_on)
            # A token that lasts less than twice REFRESH_AHEAD is refreshed half way through its life.
            self._refresh_at = self._expires_on - min(REFRESH_AHEAD, (self._expires_on - now) / 2)
            self._told_failing = False
            return self._token

    @property
    def recent(self) -> tuple[str, ...]:
        """The tokens given lately, the current one and the one before it: a response's words may quote
        the token its request carried, which a refresh may have replaced since (`masking.ClientKeys`)."""
        return tuple(token for token in (self._token, self._previous) if token is not None)

    def _keep(self, now: float, said: str, exc: Exception) -> str:
        """After a failed fetch: the current token while it is good (tried again `RETRY_AFTER` later),
        else the run stops."""
        if self._token is None or now >= self._expires_on:
            raise BackendRefusedError(
                f"Microsoft Entra ID gave no token for Azure OpenAI ({said}): {SIGN_IN}"
            ) from exc
        self._refresh_at = min(now + RETRY_AFTER, self._expires_on)
        if not self._told_failing:
            self._told_failing = True
            log.warning(
                "could not refresh the Microsoft Entra ID token (%s): the current one is good for %.0f s "
                "more; trying again every %.0f s",
                said, self._expires_on - now, RETRY_AFTER,
            )  # fmt: skip
        return self._token

    async def _fetch(self) -> AccessToken:
        async with self._credential() as credential:
            token: AccessToken = await credential.get_token(self._scope)
            return token


def _first_line(exc: Exception) -> str:
    """An azure-identity failure lists every credential it tried, over a dozen lines: the first says it."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
