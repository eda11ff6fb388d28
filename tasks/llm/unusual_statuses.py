"""What a create's answer means when its status is none of the API's usual ones: said to the row or the
run in one line, rather than read as a passing fault and sent again.

- 413 (a proxy's body limit: nginx's default is 1 MB, and a row's inline images and files count) is the
  row's: it is refused every time it is sent, so the row fails alone, nothing started. It was retried as
  a transient error for as long as the run lasted.
- 405 and 501 are the server's: it takes no create at that address (a server without the Responses
  API, a proxy that forwards only some routes), so the run stops, nothing started. A 405 was retried
  for ever; a 501 counted a possible duplicate on every row, three creates each. So are they to a poll
  (a server without `GET /responses/{id}`): the run stops, its rows keeping their response ids, as for
  a 404 that is not the API's. Each poll was retried until `--give-up-after` (an hour), which then said
  the server had answered nothing. To a stream's resume (`GET ...?stream=true`) they say only that the
  server streams no response it made, and the row is polled (`StreamUnavailableError`, as a 400 naming
  `stream`): stopped as one that serves no reads, a run lost the polls the server would have answered. A
  cancel so answered is left to its caller: the server cannot cancel, which the row's state records.
- A 429 whose `retry-after` is longer than `QUOTA_WAIT` is a quota (a daily request limit, as GitHub
  Models' and some Azure deployments' are), not a passing rate limit: the run stops and says when to run
  again. It waited, silently, for as long as the server said (11 hours in a trial).
- OpenAI's two other 429s that no wait cures: an account out of credit (the run stops), and a create
  larger than the whole tokens-per-minute limit (the row fails alone: it is refused every time it is
  sent, and waiting for it held the batch for ever).

`translate` asks `unusual_answer` first; None leaves the answer to its usual reading.

A create refused for its background mode stops the run (named, `sdk_errors.translate`; unnamed,
`run.refused_alike`), and the way out is said with it (`every_create_refused`): the server is seldom the
user's to change, and the Chat Completions backend needs no background mode. It ended "fix that, then run
it again", with nothing to fix. Each stop here whose words name a way out says so (`way_on=None`): the
command line added that ending to all of them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import openai

from rowrelay.tasks.llm.calls import BackendRefusedError, RequestRejectedError, StreamUnavailableError
from rowrelay.tasks.setting_problems import one_of, option_of

QUOTA_WAIT = 600.0
"""Seconds of `retry-after` beyond which a 429 is a quota the run should not sit out."""

ROW_TOO_LARGE = 413
NOT_TAKEN_HERE = (405, 501)
OUT_OF_CREDIT = "insufficient_quota"
"""The code (and type) of OpenAI's 429 "You exceeded your current quota, please check your plan and
billing details": the account has no credit left."""


def unusual_answer(
    exc: openai.APIStatusError, message: str, retry_after: float | None, *, creating: bool
) -> Exception | None:
    """What an unusual answer means for its row or the run, or None for the usual reading. `message` is
    the server's words, `retry_after` its wait in seconds if it named one."""
    if isinstance(exc, openai.RateLimitError):
        if OUT_OF_CREDIT in (exc.code, exc.type):  # waiting refills nothing: every row would wait for ever
            return BackendRefusedError(
                f"the account is out of credit (429 {OUT_OF_CREDIT}); add credit or raise the quota in the "
                f"plan and billing settings, then run again: {message}",
                way_on=None,
            )
        if creating and _over_the_whole_limit(message):
            return RequestRejectedError(
                "the request is larger than the server's tokens-per-minute limit, so it is never accepted "
                f"(429): {message}; shorten the row's input or lower {option_of('max_output_tokens')}"
            )
        if creating and retry_after is not None and retry_after > QUOTA_WAIT:
            return BackendRefusedError(quota_wait(retry_after, message), way_on=None)
        return None
    if creating and exc.status_code == ROW_TOO_LARGE:
        return RequestRejectedError(row_too_large(exc))
    if exc.status_code in NOT_TAKEN_HERE:
        if creating:
            return BackendRefusedError(not_taken_here(exc), way_on=None)  # its route_hint
        if exc.request.method == "GET" and exc.request.url.params.get("stream") == "true":
            return StreamUnavailableError(not_streamed_here(exc))  # its row is polled instead
        if exc.request.method == "GET":  # a poll; a cancel refused is the row's
            return BackendRefusedError(not_read_here(exc), way_on=None)
    return None


def _over_the_whole_limit(message: str) -> bool:
    """OpenAI's 429 for a request over the whole per-minute limit: "Request too large for gpt-4o in
    organization org-... on tokens per min (TPM): Limit 30000, Requested 36278. The input or output
    tokens must be reduced in order to run successfully." (`rate_limit_exceeded`, like a passing limit)."""
    return message.lower().startswith("request too large")


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


def not_read_here(exc: openai.APIStatusError) -> str:
    return (
        f"{exc.request.method} {exc.request.url} was answered {exc.status_code} ({_reason(exc)}): the "
        "server does not let rowrelay read the responses it made, so it cannot see them end, and each row "
        "would be created, and paid for, again; rows keep their response ids. A server without it has no "
        f"background mode: {one_of('backend', ('chat',))} sends Chat Completions"
    )


def not_streamed_here(exc: openai.APIStatusError) -> str:
    return (
        f"{exc.request.method} {exc.request.url} was answered {exc.status_code} ({_reason(exc)}): the "
        "server does not stream a response it made; polled instead"
    )


def quota_wait(seconds: float, message: str) -> str:
    hours, rest = divmod(round(seconds / 60), 60)
    said = f"{hours} h {rest} min" if hours else f"{rest} min"
    return (
        f"the server asks to wait {said} before another request (429: {message}): a "
        "quota, not a passing rate limit, so the run stopped; rows keep their state, and the same command "
        "goes on once the quota allows"
    )


def every_create_refused(said: str, param: object, words: str) -> BackendRefusedError:
    """The stop for a refusal every create meets: `said` (why: the server's `words`, naming `param`), with
    the way out when it was refused for its background mode (the param names `background`, or none is
    named and the words say it), which no setting of rowrelay's turns off and the server itself is seldom
    the user's to fix; else the words name what to fix."""
    named = isinstance(param, str) and param.split(".", 1)[0] == "background"
    if not named and (param is not None or "background" not in words.lower()):
        return BackendRefusedError(said)
    return BackendRefusedError(
        said.rstrip(". ") + ". Without background mode the server cannot serve rowrelay's Responses "
        f"backends: {one_of('backend', ('chat',))} sends Chat Completions, which need none, to a server that "
        "has them",
        way_on=None,
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
            f"API (vLLM, Ollama, LM Studio), {one_of('backend', ('chat',))} sends Chat Completions"
        )
    return "check the base URL (the API's most often ends in /v1)"


def _reason(exc: openai.APIStatusError) -> str:
    return exc.response.reason_phrase or "no reason given"
