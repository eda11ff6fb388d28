"""Keys a server repeats back, masked before its words are used anywhere.

A server that refuses a key may quote it (`Incorrect API key provided: Bearer sk-...`), and so may a
gateway's 403 or 429, a row's 400, or a page that shows the request it got (a proxy's, an echo server's).
What a server says is what rowrelay says of a failed row or a stopped run: the state table's
`error_message`, the output's `error` column, `rowrelay status`, the printed error line, its logs and
Prefect's (logs, states, events, artifacts, pickled exceptions in its result storage). So its words are
masked once, where they arrive: `sdk_errors.translate` masks the SDK's exception before reading it, and
with it every exception down its chain, which tracebacks print after the translated one; and a response
that reports its own failure in its body (`status: failed`, its `error.message`; an `incomplete_details`
reason; a chat answer's words) is masked by its backend with `masked_snapshot` as it is read.

The secrets are the credentials of the request the words answer, read from its headers (`Authorization`,
`api-key`): whatever rowrelay sends is known there, OpenAI's key, Azure's key, a Microsoft Entra token,
an endpoint's own key, and the key of a caller's own agent too, with no list of keys to keep in step. A
response's body carries no request, so `ClientKeys` reads them from the clients that sent it, when its
words are masked: their headers as they are then, and their Entra token, which the SDK adds to each
request itself and no header of the client holds. A
server may also quote part of a key (its start, a few characters masked), so every run of
`SHORTEST_RUN` or more of a secret's characters is masked, not only the whole key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import openai

from rowrelay.tasks.llm.calls import Snapshot, StreamUpdate
from rowrelay.tasks.llm.entra import EntraTokens

MASK = "[REDACTED]"
SHORTEST_RUN = 8
"""Characters of a secret that are masked wherever they appear in a row: the start of a key a server
quotes (`sk-proj-ab...`) is found, a word of the server's own is not (keys are random). A value shorter
than this is no secret, a placeholder for a server that checks none (`EMPTY`, `x`): masking it would
garble every message that holds those letters."""
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "api-key", "x-api-key", "ocp-apim-subscription-key", "proxy-authorization"}
)
_SCHEMES = ("bearer ", "basic ")


def secrets_in(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The credentials a request's headers carry (the key or token alone, without `Bearer`)."""
    found = []
    for name, value in headers.items():
        if name.lower() in _CREDENTIAL_HEADERS:
            scheme = next((s for s in _SCHEMES if value.lower().startswith(s)), "")
            secret = value[len(scheme) :].strip()
            if len(secret) >= SHORTEST_RUN:
                found.append(secret)
    return tuple(found)


def says_why(snapshot: Snapshot | None) -> bool:
    """Whether `snapshot` has words about its end (`error_code`, `error_message`) a key may be in: what a
    backend asks of each snapshot before it masks one (`ClientKeys`). Two attribute tests: a response
    with no error costs nothing more."""
    return snapshot is not None and (snapshot.error_code is not None or snapshot.error_message is not None)


class ClientKeys:
    """The credentials a backend's clients send, read only when a response's words are masked (a response
    that `says_why`): each client's `auth_headers` as they are then, and its Microsoft Entra token. Read
    once as the backend was built, an `AsyncAzureOpenAI(azure_ad_token_provider=...)` gave none (its
    headers are `{}`; the token goes on each request), and a failed response quoting its token kept it in
    the state table and the logs."""

    def __init__(self, *clients: openai.AsyncOpenAI) -> None:
        self._clients = tuple({id(client): client for client in clients}.values())

    async def secrets(self) -> tuple[str, ...]:
        found: set[str] = set()
        for client in self._clients:
            found.update(secrets_in(client.auth_headers))
            found.update(token for token in await _entra_tokens(client) if len(token) >= SHORTEST_RUN)
        return tuple(found)

    async def masked(self, snapshot: Snapshot) -> Snapshot:
        """`snapshot` masked of the clients' credentials (`masked_snapshot`)."""
        return masked_snapshot(snapshot, await self.secrets())

    async def masked_update(self, update: StreamUpdate) -> StreamUpdate:
        """A stream event's update masked of the clients' credentials (`masked_update`)."""
        return masked_update(update, await self.secrets())


async def secrets_of(backend: object) -> tuple[str, ...]:
    """The credentials `backend`'s clients send, for words no server said and no request carries (a row's
    crash: rowrelay's own bug, a surprise), which may still quote them. Every backend keeps its
    `ClientKeys` as `_keys` (tests/llm/test_secrets_of.py holds each kind to it); one that keeps none
    (a test's double) has none to mask. Should an Entra token provider fail when asked, the headers'
    keys are masked still: a crash's words are then masked of what is known, not kept back whole."""
    keys = getattr(backend, "_keys", None)
    if not isinstance(keys, ClientKeys):
        return ()
    try:
        return await keys.secrets()
    except Exception:  # the provider's own failure: the crash being recorded matters more
        return tuple({secret for client in keys._clients for secret in secrets_in(client.auth_headers)})


async def _entra_tokens(client: openai.AsyncOpenAI) -> tuple[str, ...]:
    """The Microsoft Entra tokens `client`'s requests may have carried: rowrelay's own `EntraTokens` keeps
    the tokens it gave lately (a request sent just before a refresh carried the one before); any other
    provider (a caller's agent's) is asked, as the SDK asks it for each request."""
    if not isinstance(client, openai.AsyncAzureOpenAI) or client._azure_ad_token_provider is None:
        return ()
    provider = client._azure_ad_token_provider
    if isinstance(provider, EntraTokens):
        return provider.recent
    token = await client._get_azure_ad_token()
    return () if token is None else (token,)


def masked_snapshot(snapshot: Snapshot, secrets: tuple[str, ...]) -> Snapshot:
    """`snapshot` with the server's words about its end (`error_code`, `error_message`) masked of
    `secrets`: a failed response may quote the request's key (`Bearer sk-proj-...`), and those words go
    to the state table, the output's `error` column and the logs. On the hot path: a response with no
    error costs two attribute tests."""
    if not says_why(snapshot) or not secrets:
        return snapshot
    code, said = snapshot.error_code, snapshot.error_message
    code_masked = None if code is None else masked(code, secrets)
    said_masked = None if said is None else masked(said, secrets)
    if code_masked == code and said_masked == said:
        return snapshot
    return dataclasses.replace(snapshot, error_code=code_masked, error_message=said_masked)


def masked_update(update: StreamUpdate, secrets: tuple[str, ...]) -> StreamUpdate:
    """A stream event's update with its snapshot masked (`masked_snapshot`)."""
    snapshot = update.snapshot
    if snapshot is None or not says_why(snapshot):
        return update
    return dataclasses.replace(update, snapshot=masked_snapshot(snapshot, secrets))


def masked(text: str, secrets: Iterable[str]) -> str:
    """`text` with every run of `SHORTEST_RUN` or more characters of a secret replaced by MASK."""
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        pieces = {secret[i : i + SHORTEST_RUN] for i in range(len(secret) - SHORTEST_RUN + 1)}
        if not any(piece in text for piece in pieces):  # the common case, searched in C: nothing quoted
            continue
        for start in range(len(text) - SHORTEST_RUN + 1):
            if text[start : start + SHORTEST_RUN] in pieces:
                spans.append((start, start + SHORTEST_RUN))
    if not spans:
        return text
    kept, end = [], 0
    for start, stop in _merged(spans):
        kept += [text[end:start], MASK]
        end = stop
    return "".join([*kept, text[end:]])


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((start, stop))
    return merged


def mask_chain(exc: BaseException) -> set[str]:
    """Mask, in place, the words of `exc` and of every exception down its chain (causes and contexts),
    with the secrets of every request in that chain (the SDK's exceptions carry theirs); returns them."""
    chain = _chain(exc)
    secrets = {s for error in chain for s in secrets_in(_request_headers(error))}
    mask_chain_of(exc, secrets)
    return secrets


def mask_chain_of(exc: BaseException, secrets: Iterable[str]) -> None:
    """Mask, in place, the words of `exc` and of every exception down its chain with `secrets` (an agent's
    own exception carries no request: its client's keys are given, `ClientKeys`)."""
    secrets = set(secrets)
    if not secrets:
        return
    for error in _chain(exc):
        error.args = tuple(_masked_value(arg, secrets) for arg in error.args)
        for name in _WORDS_BESIDE_ARGS:
            said = getattr(error, name, None)
            unsaid = None if said is None else _masked_value(said, secrets)
            if unsaid is not said and unsaid != said:  # any value: an OSError's filename may be an object
                with contextlib.suppress(AttributeError, TypeError):  # a read-only property: from args
                    setattr(error, name, unsaid)


_WORDS_BESIDE_ARGS = (
    "message", "body",  # the SDK's exceptions keep the server's words here too
    "strerror", "filename", "filename2",  # an OSError (PermissionError, ConnectionError) prints these
    "msg", "text", "reason",  # ImportError's and SyntaxError's words, UnicodeError's reason
    "__notes__",  # printed after the exception by every traceback
)  # fmt: skip
"""Where an exception keeps words it prints, beside its `args`: rewriting `args` alone left an OSError's
key in its traceback (`PermissionError: [Errno 13] denied for key sk-...`), which the runner logs."""


class MaskingFilter(logging.Filter):
    """Masks a record that carries an exception (`exc_info`) with that exception's secrets: Agent
    Framework logs each exception it raises (at DEBUG, with the SDK's as its `exc_info`) as it makes it,
    before rowrelay can translate it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and (secrets := mask_chain(error)):
            record.msg = masked(record.getMessage(), secrets)
            record.args = None
        return True


def mask_logged(logger: logging.Logger) -> None:
    """Put a MaskingFilter on `logger`, once."""
    if not any(isinstance(each, MaskingFilter) for each in logger.filters):
        logger.addFilter(MaskingFilter())


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception a traceback of it prints: its cause and context, a group's members
    (`ExceptionGroup.exceptions`, printed beneath it; a TaskGroup raises them so), and an exception given
    as an argument of another (`RuntimeError(error)` prints `error`'s words as its own), each in turn."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is not None and all(error is not seen for seen in chain):
            chain.append(error)
            pending += [error.__cause__, error.__context__]
            pending += [arg for arg in error.args if isinstance(arg, BaseException)]
            if isinstance(error, BaseExceptionGroup):
                pending += error.exceptions
    return chain


def _request_headers(error: BaseException) -> Mapping[str, str]:
    request = getattr(error, "request", None) if isinstance(error, openai.APIError) else None
    headers = getattr(request, "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def _masked_value(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, str):
        return masked(value, secrets)
    if isinstance(value, dict):
        return {key: _masked_value(item, secrets) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_masked_value(item, secrets) for item in value)
    if isinstance(value, BaseException):
        return value  # in the chain (`_chain`): masked in place, kept what it is
    return _masked_object(value, secrets)


def _masked_object(value: Any, secrets: set[str]) -> Any:
    """Any other value, as an exception prints it: `ValueError(client)` says `str(client)`, and an
    exception of several arguments, or a `KeyError`, says their `repr`. One whose words quote a secret is
    replaced by its words masked (the object itself cannot be masked); any other is kept."""
    try:
        said, shown = str(value), repr(value)
    except Exception:  # unprintable: a traceback prints `<exception str() failed>`, not its words
        return value
    if masked(said, secrets) == said and masked(shown, secrets) == shown:
        return value
    return masked(said, secrets)
