"""The one place the SDK's exceptions become rowrelay's (`translate`), and the decisions it makes of an
answer: whether a create may have started a job (`may_have_started`, `never_connected`), whether a refusal
names what every row is sent with (`sent_with_every_row`). What an answer says, and whether it is the
API's at all, is read by `answer_words`."""

from __future__ import annotations

import aiohttp
import httpx2
import openai

from rowrelay.tasks.errors import RateLimitedError, ResponseGoneError, TransientError
from rowrelay.tasks.llm.answer_words import (
    answered,
    content_type,
    events,
    excerpt,
    from_the_api,
    not_the_api,
    server_words,
)
from rowrelay.tasks.llm.azure_versions import api_version_refused
from rowrelay.tasks.llm.calls import (
    BackendRefusedError,
    MaybeSentError,
    NotSentError,
    NotTheApiError,
    RequestRejectedError,
    StreamErrorEvent,
    StreamUnavailableError,
)
from rowrelay.tasks.llm.limit_headers import retry_after
from rowrelay.tasks.llm.masking import mask_chain
from rowrelay.tasks.llm.refusals import Refusal
from rowrelay.tasks.llm.tls_problems import lasting_tls_problem
from rowrelay.tasks.llm.unusual_statuses import every_create_refused, unusual_answer

_SENT_WITH_EVERY_ROW = frozenset(
    {
        "model", "instructions", "max_output_tokens", "reasoning", "service_tier", "text", "background",
        "store", "reasoning_effort", "max_completion_tokens", "max_tokens", "response_format", "temperature",
        "tools", "tool_choice", "max_tool_calls", "top_logprobs", "logprobs", "include",
    }
)  # fmt: skip
"""The create parameters (Responses and Chat Completions) a run sends the same with every row: a refusal
naming one (`reasoning.effort`, `text.format.schema`) is the run's to fix. A row's own is its `input` (or
`messages`); `stream` is left to the streamed create's fallback (`run.submit`)."""


def sent_with_every_row(param: object) -> bool:
    """Whether a 400's `param` names a create parameter every row of a run is sent with."""
    return isinstance(param, str) and param.split(".", 1)[0].split("[", 1)[0] in _SENT_WITH_EVERY_ROW


def translate(exc: Exception, *, creating: bool = False) -> Exception:
    """Map an SDK exception onto rowrelay's tree (use as `raise translate(exc) from exc`). The keys its
    request sent are masked in it (and down its chain) first: every word of the server's is read here."""
    mask_chain(exc)
    if isinstance(exc, openai.APIStatusError):
        wait = retry_after(exc.response.headers)
        unusual = unusual_answer(exc, server_words(exc), wait, creating=creating)
        if unusual is not None:
            return unusual
        if isinstance(exc, openai.RateLimitError):
            return RateLimitedError(f"rate limited (429): {server_words(exc)}", wait)
    if isinstance(exc, openai.NotFoundError):
        if creating and not from_the_api(exc):  # a web server's 404: nothing answers at this path
            return BackendRefusedError(not_the_api(exc.request.method, str(exc.request.url), _status(exc)))
        if not from_the_api(exc):
            # On a poll or a resume it says nothing of the response, which may well run: something in front
            # of the API does not pass polls on. Read as gone, every row would be created, and paid for,
            # again: the run stops, its rows keeping their response ids.
            return BackendRefusedError(
                f"{exc.request.method} {exc.request.url} was answered {_status(exc)}, which is not the "
                "API's answer: something in front of the API (a gateway, a proxy) does not pass polls on, "
                "so rowrelay cannot see the responses it made, and each row would be created, and paid "
                "for, again; rows keep their response ids"
            )
        if creating:
            return BackendRefusedError(f"the server has no such endpoint or model (404): {server_words(exc)}")
        return ResponseGoneError(f"the server no longer holds this response (404): {server_words(exc)}")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return BackendRefusedError(f"the server refused our credentials: {server_words(exc)}")
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        stop = api_version_refused(exc, server_words(exc)) if creating else None
        if stop is not None:  # Azure's api-version, sent with every row: the run's to fix
            return stop
        param = getattr(exc, "param", None)
        if param == "stream" and not creating:  # a create's refusal is the row's
            return StreamUnavailableError(server_words(exc))
        if creating and sent_with_every_row(param):
            # Every row would be refused the same: stop the run (nothing started) rather than fail them all.
            words = server_words(exc)
            refused = f"every create is refused for its {param} ({exc.status_code}): {words}"
            return every_create_refused(refused, param, words)
        code = None if exc.code is None else str(exc.code)
        refusal = Refusal(param if isinstance(param, str) else None, code, server_words(exc))
        return RequestRejectedError(f"request rejected ({exc.status_code}): {server_words(exc)}", refusal)
    if isinstance(exc, openai.APIStatusError):
        if creating and may_have_started(exc):
            words = f" ({server_words(exc)})" if from_the_api(exc) else ""  # not a proxy's page
            return MaybeSentError(
                f"{_kind(exc)} ({exc.status_code}) from {_answered_by(exc)}: the job may have started{words}"
            )
        return TransientError(f"server error ({exc.status_code}): {server_words(exc)}")
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError too
        url = exc.request.url
        lasting = lasting_tls_problem(exc, f"{url.scheme}://{url.netloc.decode()}")
        if lasting is not None:  # every request meets it (a wrong scheme, an untrusted certificate)
            # It names its way out; no server refused anything (nothing answered on this side of TLS).
            return BackendRefusedError(
                lasting + ("; nothing was sent" if creating else _KEPT), way_on=None, refused=False
            )
        # A create that never had a connection sent nothing: no job can exist, nothing is spent on it.
        unsent = never_connected(exc)
        maybe = (NotSentError if unsent else MaybeSentError) if creating else TransientError
        if isinstance(exc, openai.APITimeoutError):
            if unsent:
                return maybe("timed out connecting")
            # A create waits for its answer as long as the timeout allows: one that answers only once its
            # response has ended (no background mode, a proxy buffering the stream) is cut and paid again.
            return maybe(_TIMED_OUT + (_TIMEOUT_HINT if creating else ""))
        return maybe(f"connection problem: {_connection_problem(exc)}")
    if isinstance(exc, openai.APIResponseValidationError):  # a success whose body is not the API's
        said = streamed_unasked(exc, creating=creating)
        if said is not None:  # every plain create meets it: never a glitch
            return NotTheApiError(said) if creating else TransientError(said)
        method, target, status = exc.request.method, str(exc.request.url), _status(exc)
        said = not_the_api(method, target, status)
        if not creating:
            return TransientError(said)
        return NotTheApiError(said, answer=answered(method, target, status))  # maybe its server's glitch
    if isinstance(exc, openai.APIError):
        # Raised mid-stream for an `error` event (the nested shape production sends). Before any event
        # named the response, the create's stream failed after the server accepted it.
        if creating:
            return MaybeSentError(f"the create's stream failed before naming the response: {exc.message}")
        return StreamErrorEvent(f"stream error event: {exc.message}")
    return exc


_TIMED_OUT = "the request timed out"
_KEPT = "; rows keep their response ids"
_TIMEOUT_HINT = (
    " (ROWRELAY_REQUEST_TIMEOUT, 60 s by default: a server that answers a create only once its response"
    " has ended needs more)"
)


def _connection_problem(exc: openai.APIConnectionError) -> str:
    """What went wrong on the connection. The SDK's text is always "Connection error."; what happened
    (refused, reset, DNS) is its cause. An answer cut mid-body is said as such, on both transports:
    aiohttp's words for it carry its internal code 400 (`<TransferEncodingError: 400, message=...>`),
    which in a row's error read as an HTTP 400, a refusal, where the server had refused nothing."""
    cause = exc.__cause__
    if _cut_mid_answer(cause):
        words = str(cause).split(": <", 1)[0]
        return f"the connection was cut mid-answer ({type(cause).__name__}: {words})"
    return f"{exc} ({type(cause).__name__}: {cause})" if cause is not None else str(exc)


_BODY_CUT = "peer closed connection without sending complete message body"
"""httpcore's words for an answer whose body ended before its length or last chunk (the SDK's transport)."""


def _cut_mid_answer(cause: BaseException | None) -> bool:
    """Whether a transport's error is an answer cut after it began (its body short of what it promised)."""
    if isinstance(cause, aiohttp.ClientPayloadError):
        return True
    return isinstance(cause, httpx2.RemoteProtocolError) and str(cause).startswith(_BODY_CUT)


def streamed_unasked(exc: openai.APIResponseValidationError, *, creating: bool) -> str | None:
    """What a plain call answered with events was, or None for another body. A server (or a proxy in front
    of it) that streams every answer serves a streamed create, and is no wrong address: told to check the
    base URL, its user had nothing to fix there. A create so answered was taken, and may have started a
    job (`NotTheApiError` counts it on its row)."""
    if not events(exc.response.headers):
        return None
    return (
        f"{exc.request.method} {exc.request.url} was answered with a stream (text/event-stream: "
        f"{excerpt(exc.body)}) though the {'create' if creating else 'call'} asked for none: the server (or "
        "a proxy in front of it) streams every answer, and rowrelay reads this one whole; have it answer a "
        "request without `stream` with one JSON object"
    )


def _status(exc: openai.APIStatusError | openai.APIResponseValidationError) -> str:
    """An answer's status, content type and the start of its body: what it was, for its error."""
    kind = content_type(exc.response.headers) or "no content type"
    return f"{exc.response.status_code} ({kind}: {excerpt(exc.body)})"


_CONNECTING = (
    aiohttp.ClientConnectorError,  # refused, no such host, TLS handshake (lean transport)
    aiohttp.ConnectionTimeoutError,  # the connect, or the wait for a pooled connection
    httpx2.ConnectError,  # the SDK's own transport: the same, in its terms
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
)


def never_connected(exc: openai.APIConnectionError) -> bool:
    """Whether the request failed before it had a connection to go out on: refused, no such host, a TLS
    handshake, a connect or pool timeout. Not one byte of it was written, so no job can exist. A reused
    connection the server had closed fails later (a reset, a disconnect): that create may have arrived."""
    return isinstance(exc.__cause__, _CONNECTING)


OVERLOADED = 503
"""Service unavailable: in the API's own envelope (OpenAI's "The engine is currently overloaded", a
router's "no deployments available"), the create was turned away at the door, before any job."""
TIMED_OUT_UPSTREAM = 408
"""Request timeout: no API answers a create with it, but a proxy does when the model behind it is slow
(LiteLLM raises its `Timeout` as a 408 in the API's envelope, after passing the create on)."""


def may_have_started(exc: openai.APIStatusError) -> bool:
    """Whether an error answer to a create leaves a job that may exist: the one decision, per status and
    body.

    Any 5xx may, but a 503 in the API's own JSON error envelope (`{"error": {...}}`): an overloaded API
    refuses a create before making its response object. A gateway's 502 or 504, or any 5xx page without
    the envelope (HTML or plain text, from a load balancer or proxy), may have passed the create on. A
    500 may, envelope or not: a server that failed while handling the create may have made its job first,
    and proxies in front of the API (LiteLLM, gateways of compatible servers) put an upstream's failure
    after passing the create on into that same envelope. Read as "nothing started", a server answering so
    to a create whose job it had made was sent the row again and again, each a paid job no row counted (a
    trial: 7 jobs in a minute). A 408 may too (a proxy's upstream timeout).
    """
    if exc.status_code == TIMED_OUT_UPSTREAM:
        return True
    if exc.status_code < 500:
        return False
    return exc.status_code != OVERLOADED or not from_the_api(exc)


def _kind(exc: openai.APIStatusError) -> str:
    return "request timeout" if exc.status_code == TIMED_OUT_UPSTREAM else "server error"


def _answered_by(exc: openai.APIStatusError) -> str:
    return "the API" if from_the_api(exc) else "a gateway (not the API's error format)"
