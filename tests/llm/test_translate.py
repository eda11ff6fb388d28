"""How SDK exceptions become rowrelay's, for creates and for reads: one table over every branch.

Each case is a real HTTP exchange: a server on a real socket answers with the status, headers and body
of the case (or never answers, or hangs up), the official SDK raises whatever it raises for that (its
own status-to-class mapping, on its own httpx2 Request/Response), and the Responses backend translates
it: `create` and `create_stream` as a create (`translate(..., creating=True)`), `retrieve` and `resume`
as a read. Every case runs on both of the backend's transports: the SDK's own, and the lean one
(aiohttp, tasks/llm/wire.py), which must raise exactly what the SDK's does.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
import pytest

from rowrelay.tasks.errors import RateLimitedError, ResponseGoneError, TransientError
from rowrelay.tasks.llm.calls import (
    BackendRefusedError,
    MaybeSentError,
    NotSentError,
    NotTheApiError,
    RequestRejectedError,
    RowRequest,
    StreamErrorEvent,
    StreamUnavailableError,
)
from rowrelay.tasks.llm.responses_backend import ResponsesBackend, Transport
from rowrelay.tasks.llm.sdk_errors import translate
from tests.support.canned import Canned, canned_server
from tests.support.inspection import eventually, reading
from tests.support.raw_http import ANSWERED, backend_on
from tests.support.scripted_replies import MESSAGE, Reply, error, proxy_page, serving

TIMEOUT = 0.3  # the client's, where the server never answers: it must time out


@dataclass(frozen=True)
class Expected:
    type: type[Exception]
    retry_after: float | None = None
    says: str = field(default=MESSAGE)  # part of the message the translated error must carry


def backend_at(
    url: str, transport: Transport, reply: Reply
) -> contextlib.AbstractAsyncContextManager[ResponsesBackend]:
    return backend_on(url, transport, quiet_timeout=TIMEOUT if reply.kind == "hang" else None)


REQUEST = RowRequest(
    row_key="row-1", prompt="hi", instructions=None, model="gpt-4.1-mini", metadata={"rowrelay_row": "row-1"}
)
GONE = Expected(ResponseGoneError)
# A web server's 404 page on a poll says nothing of the response, which may well run: the run stops.
POLLS_NOT_PASSED = Expected(
    BackendRefusedError, says="h1></body></html>), which is not the API's answer: something in front"
)
NO_SUCH_PATH = Expected(BackendRefusedError, says="404 (text/html: <html><body><h1>404 from the proxy</h1>")
REFUSED = Expected(BackendRefusedError)
REJECTED = Expected(RequestRejectedError)
EVERY_ROW = Expected(BackendRefusedError, says="every create is refused for its ")
TRANSIENT = Expected(TransientError)
MAYBE_SENT_TIMEOUT = Expected(
    MaybeSentError, says="the request timed out (ROWRELAY_REQUEST_TIMEOUT, 60 s by default: a server that"
)
MAYBE_SENT_CONNECTION = Expected(MaybeSentError, says="connection problem")
MAYBE_SENT_GATEWAY = Expected(MaybeSentError, says="may have started")
MAYBE_SENT_BY_THE_API = Expected(MaybeSentError, says=f"from the API: the job may have started ({MESSAGE})")
MAYBE_SENT_PROXY = Expected(MaybeSentError, says="a gateway (not the API's error format)")
TRANSIENT_PAGE = Expected(TransientError, says="server error (5")

UNSTREAMABLE = Expected(StreamUnavailableError)
TIMED_OUT = Expected(TransientError, says="timed out")
OUT_OF_CREDIT = Expected(BackendRefusedError, says="out of credit")
CUT_OFF = Expected(TransientError, says="connection problem")
NOT_THE_API = Expected(NotTheApiError, says="200 (text/html: <html><body><h1>200 from the proxy</h1>")
NOT_THE_API_READ = Expected(TransientError, says="which is not the API's answer")
DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
TOO_LARGE_FOR_PROXY = Expected(
    RequestRejectedError, says="the request is larger than the server takes (413: "
)
NOT_TAKEN = Expected(
    BackendRefusedError, says="the server takes no create at this address; check the base URL"
)
# A poll the server does not serve: every one would be refused, and the run stops, rows keeping their
# ids. It was retried until --give-up-after.
NOT_READ = Expected(BackendRefusedError, says="the server does not let rowrelay read the responses it made")
# The same to a stream's resume (`GET ?stream=true`) says only that the server streams none: its row is
# polled, as past a stream window. It stopped the run though the server might serve every poll.
NOT_STREAMED = Expected(StreamUnavailableError, says="the server does not stream a response it made")
QUOTA = Expected(BackendRefusedError, says="the server asks to wait 11 h 7 min before another request (429: ")


def limited(retry_after: float | None = None) -> Expected:
    return Expected(RateLimitedError, retry_after)


# (case, what the server does, what a create raises, what a read raises)
CASES: list[tuple[str, Reply, Expected, Expected]] = [
    ("timeout", Reply("hang"), MAYBE_SENT_TIMEOUT, TIMED_OUT),
    ("connection-closed", Reply("hang_up"), MAYBE_SENT_CONNECTION, CUT_OFF),
    ("429", error(429), limited(), limited()),
    ("429-retry-after", error(429, ("retry-after", "7")), limited(7.0), limited(7.0)),
    ("429-retry-after-ms", error(429, ("retry-after-ms", "1500")), limited(1.5), limited(1.5)),
    ("429-both-ms-first", error(429, ("retry-after", "9"), ("retry-after-ms", "250")), limited(0.25),
     limited(0.25)),
    # An HTTP-date is honoured as the time until it; this one is long past, so: no wait, never a negative one.
    ("429-http-date-past", error(429, ("retry-after", DATE)), limited(0.0), limited(0.0)),
    ("429-rate-limit-code", error(429, ("retry-after", "2"), code="rate_limit_exceeded"), limited(2.0),
     limited(2.0)),
    # OpenAI's "You exceeded your current quota": no credit left, which no wait fixes. The run stops.
    ("429-insufficient-quota", error(429, ("retry-after", "2"), code="insufficient_quota",
     error_type="insufficient_quota"), OUT_OF_CREDIT, OUT_OF_CREDIT),
    ("429-insufficient-quota-code", error(429, code="insufficient_quota"), OUT_OF_CREDIT, OUT_OF_CREDIT),
    ("429-insufficient-quota-type", error(429, error_type="insufficient_quota"), OUT_OF_CREDIT,
     OUT_OF_CREDIT),
    ("400", error(400), REJECTED, REJECTED),
    # A read past the stream window: poll instead. A create refused its stream: the row's request was
    # refused, nothing started (poll mode then asks without the stream, tests/run/test_poll_streams.py).
    ("400-param-stream", error(400, param="stream"), REJECTED, UNSTREAMABLE),
    ("422", error(422), REJECTED, REJECTED),
    # A create refused for a parameter every row is sent with (an effort or a schema the model does not
    # take): every row would be, so the run stops (nothing started). One naming the row's input is the row's.
    ("400-param-reasoning", error(400, param="reasoning.effort"), EVERY_ROW, REJECTED),
    ("400-param-schema", error(400, param="text.format.schema"), EVERY_ROW, REJECTED),
    ("400-param-model", error(400, param="model"), EVERY_ROW, REJECTED),
    ("400-param-input", error(400, param="input"), REJECTED, REJECTED),
    ("400-param-input-item", error(400, param="input[0].content"), REJECTED, REJECTED),
    ("401", error(401), REFUSED, REFUSED),
    ("403", error(403), REFUSED, REFUSED),
    ("404", error(404), REFUSED, GONE),  # a create: no such model or endpoint; a read: no such response
    # A web server's 404 page, not the API's: nothing answers at that path (a base URL missing its /v1);
    # on a poll, something in front of the API does not pass polls on, and the run stops.
    ("404-page", proxy_page(404), NO_SUCH_PATH, POLLS_NOT_PASSED),
    # A 408 comes from a proxy whose model behind it was slow (LiteLLM's upstream timeout), after it passed
    # the create on: the job may run.
    ("408", error(408), Expected(MaybeSentError, says="request timeout (408) from the API"), TRANSIENT),
    ("409", error(409), TRANSIENT, TRANSIENT),
    # A 5xx on a create may have started its job, but a 503 written by the API itself (its JSON error
    # envelope: overloaded), which turned the create away before making it. A 500 in that envelope may
    # come after the job was made (a server's failure midway, a proxy wrapping its upstream's): its words
    # are kept. A gateway's statuses (502, 504), or any 5xx page from a proxy, may have passed it on.
    ("500", error(500), MAYBE_SENT_BY_THE_API, TRANSIENT),
    ("503", error(503), TRANSIENT, TRANSIENT),
    ("502", error(502), MAYBE_SENT_GATEWAY, TRANSIENT),
    ("504", error(504), MAYBE_SENT_GATEWAY, TRANSIENT),
    ("500-proxy-page", proxy_page(500), MAYBE_SENT_PROXY, TRANSIENT_PAGE),
    ("502-proxy-page", proxy_page(502), MAYBE_SENT_PROXY, TRANSIENT_PAGE),
    ("503-proxy-page", proxy_page(503), MAYBE_SENT_PROXY, TRANSIENT_PAGE),
    # Answers that are neither the API's nor a passing fault: a proxy's body limit is the row's (refused
    # each time, nothing started); no create taken at this address is the run's; a quota's wait of hours
    # is no rate limit to sit out. A read meeting a 413 or a quota is retried, as before.
    ("413-page", proxy_page(413), TOO_LARGE_FOR_PROXY, Expected(TransientError, says="server error (413)")),
    ("405-page", proxy_page(405), NOT_TAKEN, NOT_READ),
    ("501-page", proxy_page(501), NOT_TAKEN, NOT_READ),
    ("405", error(405), NOT_TAKEN, NOT_READ),
    ("429-retry-after-quota", error(429, ("retry-after", "40000")), QUOTA, limited(40000.0)),
    ("429-retry-after-ten-minutes", error(429, ("retry-after", "600")), limited(600.0), limited(600.0)),
    # A web page with a success: a web server or a proxy's sign-in page at the base URL, not the API. What
    # took the create may have passed it on (a maybe-sent create), and every create would meet the same
    # (the run stops): `NotTheApiError` is both.
    ("200-web-page", proxy_page(200), NOT_THE_API, NOT_THE_API_READ),
]  # fmt: skip


async def _raised(call: Any) -> Exception:
    with pytest.raises(Exception) as caught:  # noqa: PT011  (the table says exactly which)
        await call
    assert isinstance(caught.value, Exception)
    return caught.value


def _check(raised: Exception, expected: Expected) -> None:
    assert type(raised) is expected.type, f"{type(raised).__name__}: {raised}"
    assert isinstance(raised.__cause__, openai.OpenAIError), "translated with `raise ... from exc`"
    assert expected.says in str(raised)
    if isinstance(raised, RateLimitedError):
        assert raised.retry_after == expected.retry_after


@pytest.mark.parametrize("transport", ["sdk", "lean"])
@pytest.mark.parametrize(
    ("reply", "on_create", "on_read"),
    [pytest.param(reply, create, read, id=case) for case, reply, create, read in CASES],
)
async def test_sdk_errors_translate_for_creates_and_reads(
    reply: Reply, on_create: Expected, on_read: Expected, transport: Transport
) -> None:
    async with serving(reply) as url, backend_at(url, transport, reply) as backend:
        _check(await _raised(backend.create(REQUEST)), on_create)
        _check(await _raised(backend.retrieve("resp_123")), on_read)


@pytest.mark.parametrize("transport", ["sdk", "lean"])
@pytest.mark.parametrize(
    ("reply", "on_create", "on_read"),
    [pytest.param(reply, create, read, id=case) for case, reply, create, read in CASES],
)
async def test_sdk_errors_translate_for_stream_creates_and_resumes(
    reply: Reply, on_create: Expected, on_read: Expected, transport: Transport
) -> None:
    """The same table for a create that streams and a resume (`GET ?stream=true`): an answer that is not
    a stream raises before the first event, as a create or as a read."""
    async with serving(reply) as url, backend_at(url, transport, reply) as backend:
        _check(await _raised(anext(backend.create_stream(REQUEST))), on_create)
        _check(
            await _raised(anext(backend.resume("resp_123", 3))),
            NOT_STREAMED if on_read is NOT_READ else on_read,
        )


@pytest.mark.parametrize("transport", ["sdk", "lean"])
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_a_create_answered_with_json_naming_no_response_is_not_the_api(
    transport: Transport, streamed: bool
) -> None:
    """JSON with a success that names no response (here an error envelope sent with 200): read as the
    create's answer, its rows were left `in_progress` with no token, and the run ended as if they had
    been. It is not the API's answer: maybe sent, and the run stops (`NotTheApiError`), saying what came."""
    async with serving(error(200)) as url, backend_at(url, transport, error(200)) as backend:
        create = anext(backend.create_stream(REQUEST)) if streamed else backend.create(REQUEST)
        raised = await _raised(create)
    assert type(raised) is NotTheApiError
    assert str(raised).startswith(f"POST {url}/responses was answered with a success naming no response")
    assert MESSAGE in str(raised)  # what came, quoted


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_a_base_url_with_no_path_is_joined_to_its_routes_with_a_slash(transport: Transport) -> None:
    """`--base-url http://host:8000`, no path at all: the lean transport joined routes to it as written,
    `http://host:8000responses`, and every row failed on an invalid port as a crash of rowrelay's, its
    create never sent. Both transports send `POST /responses` there; a web server's 404 at that path says
    what answered and to check the base URL."""
    heads: list[bytes] = []
    async with (
        serving(proxy_page(404), heads) as url,
        backend_at(url.removesuffix("/v1"), transport, proxy_page(404)) as backend,
    ):
        raised = await _raised(backend.create(REQUEST))
    assert heads[0].startswith(b"POST /responses HTTP/1.1")
    assert type(raised) is BackendRefusedError
    assert str(raised).startswith(f"POST {url.removesuffix('/v1')}/responses was answered 404 (text/html:")
    assert "check the base URL" in str(raised)


async def test_a_maybe_sent_create_is_still_transient_but_a_read_is_never_maybe_sent() -> None:
    """The runner orphans a MaybeSentError (it may have started a paid job) before it would retry a
    TransientError: the subclass is what keeps an unanswered create from being sent twice."""
    assert issubclass(MaybeSentError, TransientError)
    request = httpx2.Request("GET", "http://127.0.0.1/v1/responses/resp_123")
    for exc in (openai.APITimeoutError(request=request), openai.APIConnectionError(request=request)):
        assert type(translate(exc, creating=True)) is MaybeSentError
        assert type(translate(exc)) is TransientError


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_a_refused_connection_says_what_the_transport_met_and_a_create_spends_nothing(
    transport: Transport, dark_address: str
) -> None:
    """The SDK's own text is "Connection error." whatever happened; the message names the cause (refused,
    reset, no such host), which the progress line shows while such errors are retried. A create that
    never had a connection sent nothing, so no job can exist: it is a `NotSentError`, a transient error
    the runner retries without counting an attempt or an orphan (a server down for a minute must not use up
    every row's attempts and report each as a possible duplicate)."""
    url = f"{dark_address}/v1"  # nothing listens there
    async with backend_on(url, transport) as backend:
        creating, streaming = (
            await _raised(backend.create(REQUEST)),
            await _raised(anext(backend.create_stream(REQUEST))),
        )
        for raised in (creating, streaming, await _raised(backend.retrieve("resp_1"))):
            cause = raised.__cause__.__cause__ if raised.__cause__ is not None else None
            assert cause is not None, repr(raised)
            assert str(raised) == f"connection problem: Connection error. ({type(cause).__name__}: {cause})"
            assert str(cause)
        assert (type(creating), type(streaming)) == (NotSentError, NotSentError)
        assert issubclass(NotSentError, TransientError)
        assert not issubclass(NotSentError, MaybeSentError), "never counted as a possible duplicate"


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_a_create_that_timed_out_waiting_for_a_pooled_connection_spends_nothing(
    transport: Transport,
) -> None:
    """One connection, held by a create the server never answers: the next create waits for the pool,
    times out there, and never left. The first one did leave, and may have started a job."""
    heads: list[bytes] = []
    async with serving(Reply("hang"), heads) as url:
        client = openai.AsyncOpenAI(
            base_url=url,
            api_key="sk-test",
            max_retries=0,
            timeout=openai.Timeout(60.0, pool=TIMEOUT / 2, connect=TIMEOUT / 2),
            http_client=openai.DefaultAsyncHttpxClient(limits=httpx2.Limits(max_connections=1))
            if transport == "sdk"
            else None,
        )
        backend = ResponsesBackend("openai", client, client, None, transport=transport, connections=1)
        try:
            first = asyncio.ensure_future(backend.create(REQUEST))
            await eventually(reading(lambda: heads), bool)  # the server has it: it holds the only connection
            waited = await _raised(backend.create(REQUEST))
            assert type(waited) is NotSentError, repr(waited)
            assert str(waited) == "timed out connecting"
            assert not first.done(), "the first create is still waiting for its answer"
            first.cancel()
            assert len(heads) == 1, "the second create never reached the server"
        finally:
            await backend.aclose()


def test_a_stream_error_event_and_foreign_exceptions() -> None:
    request = httpx2.Request("GET", "http://127.0.0.1/v1/responses/resp_123?stream=true")
    event = openai.APIError("The server had an error", request, body={"code": "server_error"})
    translated = translate(event)
    assert type(translated) is StreamErrorEvent
    assert "The server had an error" in str(translated)
    foreign = ValueError("not the SDK's")
    assert translate(foreign) is foreign
    assert translate(foreign, creating=True) is foreign


def test_an_account_out_of_credit_says_so_and_keeps_the_servers_words() -> None:
    """OpenAI's own 429 body for an account with no credit left: the run stops with a message that says
    why and what to do, and still quotes the server."""
    request = httpx2.Request("POST", "http://127.0.0.1/v1/responses")
    words = "You exceeded your current quota, please check your plan and billing details."
    body = {"message": words, "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}
    exc = openai.RateLimitError(words, response=httpx2.Response(429, request=request), body=body)
    for creating in (True, False):
        translated = translate(exc, creating=creating)
        assert type(translated) is BackendRefusedError
        assert "out of credit" in str(translated)
        assert "billing" in str(translated)
        assert words in str(translated)


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_reads_are_retried_as_the_sdk_retries_them_and_creates_never(transport: Transport) -> None:
    """A 503 on every call: a create, streamed or not, is sent once (a retried create may start a second
    paid job); a poll, a resume and a cancel are sent 1 + max_retries times, then raise what one 503
    raises."""
    heads: list[bytes] = []
    async with serving(error(503, ("retry-after-ms", "1")), heads) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0, timeout=ANSWERED)
        reads = openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=2, timeout=ANSWERED)
        backend = ResponsesBackend("openai", client, reads, transport=transport)
        try:
            _check(await _raised(backend.create(REQUEST)), TRANSIENT)
            assert len(heads) == 1
            _check(await _raised(anext(backend.create_stream(REQUEST))), TRANSIENT)
            assert len(heads) == 2
            _check(await _raised(backend.retrieve("resp_123")), TRANSIENT)
            _check(await _raised(anext(backend.resume("resp_123", 3))), TRANSIENT)
            _check(await _raised(backend.cancel("resp_123")), TRANSIENT)
        finally:
            await backend.aclose()
    lines = [head.split(b"\r\n", 1)[0] for head in heads]
    assert lines[:5] == [
        b"POST /v1/responses HTTP/1.1",
        b"POST /v1/responses HTTP/1.1",
        *[b"GET /v1/responses/resp_123 HTTP/1.1"] * 3,
    ]
    # The resume asks for the stream after the cursor; the query's order is each transport's own.
    for line in lines[5:8]:
        assert line.startswith(b"GET /v1/responses/resp_123?")
        assert sorted(line.split(b" ")[1].split(b"?")[1].split(b"&")) == [b"starting_after=3", b"stream=true"]
    assert lines[8:] == [b"POST /v1/responses/resp_123/cancel HTTP/1.1"] * 3


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_azure_urls_keys_and_api_versions_come_from_the_sdk_client(transport: Transport) -> None:
    """Azure OpenAI: the key goes in `api-key` (never as a bearer token) and every call carries the
    client's `api-version`, on both transports, because both read them from the SDK's client."""
    heads: list[bytes] = []
    async with serving(error(404), heads) as url:
        endpoint = url.removesuffix("/v1")
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint, api_key="az-key", api_version="2025-04-01-preview", max_retries=0
        )
        backend = ResponsesBackend("azure", client, client, transport=transport)
        try:
            _check(await _raised(backend.create(REQUEST)), REFUSED)
            _check(await _raised(backend.retrieve("resp_123")), GONE)
            _check(await _raised(anext(backend.create_stream(REQUEST))), REFUSED)
            _check(await _raised(anext(backend.resume("resp_123", 3))), GONE)
        finally:
            await backend.aclose()
    create, read = b"POST /openai/responses?", b"GET /openai/responses/resp_123?"
    for head, line in zip(heads, [create, read, create, read], strict=True):
        first, *fields = head.lower().split(b"\r\n")
        assert first.startswith(line.lower())
        assert b"api-version=2025-04-01-preview" in first
        assert b"api-key: az-key" in fields
        assert not any(field.startswith(b"authorization:") for field in fields)


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_a_plain_call_answered_with_events_says_the_server_streams_every_answer(
    transport: Transport,
) -> None:
    """A server (or proxy) that streams every answer: a plain create's events were, on the SDK's
    transport, its text read as a success naming no response, on the lean one a body not the API's, both
    telling the user to check the base URL; a poll's crashed on the SDK's transport (its text read as a
    response). A create so answered was taken (maybe sent: `NotTheApiError`); a read is retried."""
    events = b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
    async with (
        canned_server(lambda _: Canned(events, content_type="text/event-stream")) as url,
        backend_on(url, transport) as backend,
    ):
        created = await _raised(backend.create(REQUEST))
        polled = await _raised(backend.retrieve("resp_123"))
    answered = "was answered with a stream (text/event-stream: event: response.created data: {"
    assert type(created) is NotTheApiError
    assert str(created).startswith(f"POST {url}/responses {answered}")
    assert "though the create asked for none: the server (or a proxy in front of it)" in str(created)
    assert type(polled) is TransientError
    assert str(polled).startswith(f"GET {url}/responses/resp_123 {answered}")
    assert "though the call asked for none" in str(polled)
