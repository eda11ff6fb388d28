"""The URLs a run sends requests to (`--base-url`, `AZURE_OPENAI_ENDPOINT`, an endpoints file's entries),
checked before anything starts.

A URL with no scheme (`127.0.0.1:8000/v1`) reached the HTTP client as a request it cannot make: each row
then counted its creates as maybe sent and was given up on as orphaned, when nothing had left. A URL
carrying credentials (`http://user:password@host/v1`) was never sent as the key (the SDK's bearer header
and the URL's basic credentials cannot go together, so every row failed), and it was recorded with the
run (`run.json`, Prefect's flow run parameters). Both are refused in one line instead, the second without
repeating the URL, as is one with a query or fragment (`?key=...`): routes are joined after it, so
nothing reached the API, and a key there was recorded.
"""

from __future__ import annotations

import functools
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

CREDENTIALS_IN_URL = "url_credentials"
"""The error type of a URL holding credentials, or a query that may (`?key=...`): a message must not
repeat its value."""


_OPENAI_KEY = "OPENAI_API_KEY, or an endpoint's api_key_env"
_AZURE_KEY = "AZURE_OPENAI_API_KEY, or an endpoint's azure_api_key_env"


def checked_url(value: str | None, key: str = _OPENAI_KEY) -> str | None:
    """`value` if requests can go to it; else pydantic's error saying why, where `key` names the
    variables a key belongs in instead."""
    if value is None:
        return None
    # Pasted with a space or a line break around it: urlsplit passed ' http://...', which the HTTP client
    # then could not send, and every create was counted as maybe sent when nothing had left.
    value = value.strip()
    # Credentials and a query first, told apart from the text alone: a URL malformed besides (a port out
    # of range, a broken IPv6 address, a space within) is said with its value, which must not hold them.
    if holds_credentials(value):
        raise PydanticCustomError(
            CREDENTIALS_IN_URL,
            "must not hold credentials (user:password@): they are not sent as the API key and would be "
            "recorded with the run; give the key as the API key ({key})",
            {"key": key},
        )
    if holds_query(value):
        # The SDK joins each route after the base URL's query (`/v1?key=K/responses`): no request reaches
        # the API, and a key in the query was recorded with the run and said in the run's errors.
        raise PydanticCustomError(
            CREDENTIALS_IN_URL,
            "must not hold a query or fragment (?... or #...): routes are joined after it, so no request "
            "would reach the API, and it would be recorded with the run; give a key as the API key ({key})",
            {"key": key},
        )
    if any(char.isspace() for char in value):
        raise PydanticCustomError("url_form", "must not hold spaces or line breaks")
    try:
        parts = urlsplit(value)
        scheme, host = parts.scheme, parts.hostname  # raises on a malformed IPv6 address, like the port
        _ = parts.port
    except ValueError as exc:  # a port out of range, or a malformed IPv6 address
        raise PydanticCustomError("url_form", "is not a valid URL ({reason})", {"reason": str(exc)}) from exc
    if scheme not in ("http", "https") or not host:
        raise PydanticCustomError(
            "url_form", "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000/v1"
        )
    return value


def holds_credentials(url: str) -> bool:
    """Whether `url` holds credentials (`user:password@`), told from its text alone."""
    return "@" in _authority(url)


def holds_query(url: str) -> bool:
    """Whether `url` has a query or fragment (`?token=...`, `#...`), which may hold a key."""
    return "?" in url or "#" in url


def _authority(url: str) -> str:
    """Where a URL's host is written (`user:password@host:port`), with or without its scheme, found
    without parsing it (a URL that does not parse may still hold credentials)."""
    rest = url.partition("://")[2] if "://" in url else url
    return rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]


HttpUrl = Annotated[str, AfterValidator(checked_url)]
"""A URL requests go to: http(s), with a host, no credentials."""
AzureUrl = Annotated[str, AfterValidator(functools.partial(checked_url, key=_AZURE_KEY))]
"""An Azure OpenAI endpoint, checked as HttpUrl; a refusal names Azure's key variables."""
