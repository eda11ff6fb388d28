"""What a create's answer means when its status is none of the API's usual ones: said to the row or the
run in one line, rather than read as a passing fault and sent again.

- 413 (a proxy's body limit: nginx's default is 1 MB, and a row's inline images and files count) is the
  row's: it is refused every time it is sent, so the row fails alone, nothing started. It was retried as
  a transient error for as long as the run lasted.
- 405 and 501 are the server's: it takes no create at that address (a server without the Responses
  API, a proxy that forwards only some routes), so the run stops, nothing started. A 405 was retried
  for ever; a 501 counted a possible duplicate on every row, three creates each.
- A 429 whose `retry-after` is longer than `QUOTA_WAIT` is a quota (a daily request limit, as GitHub
  Models' and some Azure deployments' are), not a passing rate limit: the run stops and says when to run
  again. It waited, silently, for as long as the server said (11 hours in a trial).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import openai

QUOTA_WAIT = 600.0
"""Seconds of `retry-after` beyond which a 429 is a quota the run should not sit out."""

ROW_TOO_LARGE = 413
NOT_TAKEN_HERE = (405, 501)


def row_too_large(exc: openai.APIStatusError) -> str:
    return (
        f"the request is larger than the server takes ({exc.status_code}: {_reason(exc)}): a proxy's body "
        "limit counts the row's inline images and files (nginx allows 1 MB by default); shorten the row or "
        "raise the limit"
    )


def not_taken_here(exc: openai.APIStatusError) -> str:
    url = str(exc.request.url)
    return (
        f"{exc.request.method} {url} was answered {exc.status_code} ({_reason(exc)}): the server takes no "
        f"create at this address; {route_hint(url)}"
    )


def quota_wait(seconds: float, message: str) -> str:
    hours, rest = divmod(round(seconds / 60), 60)
    said = f"{hours} h {rest} min" if hours else f"{rest} min"
    return (
        f"the server asks to wait {said} before another request (429: {message}): a "
        "quota, not a passing rate limit, so the run stopped; rows keep their state, and the same command "
        "goes on once the quota allows"
    )


def route_hint(url: str) -> str:
    """What to check when an address answers as no API: Azure's resource root, or the Chat Completions
    backend for a server without the Responses API; else the base URL's `/v1`."""
    path = urlsplit(url).path
    if path.count("/openai/") > 1 or path.startswith(("/openai/v1/openai/", "/openai/openai/")):
        return (
            "AZURE_OPENAI_ENDPOINT is the resource's root (https://NAME.openai.azure.com), without /openai "
            "or /v1"
        )
    if path.endswith("/responses"):
        return (
            "check the base URL (the API's most often ends in /v1), or, for a server without the Responses "
            "API (vLLM, Ollama, LM Studio), --backend chat sends Chat Completions"
        )
    return "check the base URL (the API's most often ends in /v1)"


def _reason(exc: openai.APIStatusError) -> str:
    return exc.response.reason_phrase or "no reason given"
