"""Reading an answer that may not be the API's: a web page where the API should be (a wrong address, a
proxy's sign-in page), events where one JSON object was asked for (a server or proxy that streams every
answer), JSON of another kind. The SDK hands a body it cannot read as JSON over as a plain call's text,
and reads a page as a stream with no events; the lean transport reads every plain answer through
`json_object` (wire.py). Both raise the SDK's `APIResponseValidationError` for such a body, so that
`sdk_errors.translate` makes one decision of it. And a stream request answered with the response object
(a server that ignores `stream`), whatever the content type it is labelled with: both transports read it
as the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx2
import openai
import orjson
from openai._streaming import ServerSentEvent, SSEDecoder
from openai.types.responses import ResponseStreamEvent

from rowrelay.tasks.llm.answer_words import answered, content_type, events, excerpt, not_the_api
from rowrelay.tasks.llm.calls import NotTheApiError
from rowrelay.tasks.llm.event_stream import EventStream, head_of, starts_as_json
from rowrelay.tasks.llm.masking import masked, secrets_in

if TYPE_CHECKING:
    from openai._legacy_response import LegacyAPIResponse  # what `with_raw_response` calls return

_Model = TypeVar("_Model")
_Read = TypeVar("_Read")
STREAMED = "the events of its stream, whose first response has no id"
"""What a streamed create's answer was, for `nothing_named`: no JSON object to show."""


def route(base_url: object, path: str) -> str:
    """The URL of `path` under a client's base URL. httpx writes a base URL whose path is only "/" without
    it (`http://host:8000`), and joined as it was written, `--base-url http://host:8000` sent every create
    to `http://host:8000responses`: each row failed on an invalid port, as a crash of rowrelay's."""
    return str(base_url).rstrip("/") + "/" + path


def nothing_named(
    base_url: object, path: str, what: str, answer: object, sent: Mapping[str, str], *, besides: str = ""
) -> NotTheApiError:
    """The error for a create answered with a success that names no `what` (a response, a completion's
    choices): whatever answered is not the API. `besides`: what else the run saw, said after the answer,
    which makes it no glitch (`NotTheApiError.answer`). Such an answer may show the request it got (an
    echo server's): the keys `sent` carries (the client's `auth_headers`) are masked in it."""
    shown_masked = excerpt(masked(shown(answer), secrets_in(sent)))
    said = f"with a success naming no {what} ({shown_masked})"
    url = route(base_url, path)
    glitch = None if besides else answered("POST", url, said)
    return NotTheApiError(not_the_api("POST", url, said + besides), answer=glitch)


def web_page(headers: Mapping[str, str]) -> bool:
    """A request answered with a web page: a web server or a proxy's page, not the API."""
    return content_type(headers) == "text/html"


def page_error(answer: httpx2.Response) -> openai.APIResponseValidationError:
    """The SDK's exception for a success whose body is not the API's, as its plain calls raise it."""
    return openai.APIResponseValidationError(answer, answer.content.decode(errors="replace"))


async def parsed(raw: LegacyAPIResponse[_Model]) -> _Model:
    """The SDK's answer to a plain call. A body the SDK cannot read as JSON (a web page, events from a
    server that streams every answer) it hands over as its text, where the lean transport raises
    (`json_object`): this raises as that does."""
    try:
        answer = raw.parse()
    except ValueError as exc:  # labelled JSON, and none (a body cut short): the SDK's decoder raised
        raise page_error(await read_page(raw.http_response)) from exc
    if isinstance(answer, str):
        raise page_error(await read_page(raw.http_response))
    return answer


async def read_page(answer: httpx2.Response) -> httpx2.Response:
    """The SDK transport's answer, read whole (a page, or JSON); a failure reading it as the SDK's own
    exception."""
    await _read(answer, answer.aread())
    return answer


def shown(answer: object) -> str:
    """An answer's JSON (the SDK's model of it, or the lean transport's object), for its error."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict):
        return orjson.dumps(answer).decode()
    to_json = getattr(answer, "to_json", None)
    return str(to_json(indent=None)) if callable(to_json) else repr(answer)


async def lean_answer(opened: EventStream) -> tuple[Any, EventStream | None]:
    """A stream request's answer on the lean transport: its events (None, the stream), or the object a
    server that ignores `stream` sends instead (it, None), read whole so the connection goes back to the
    pool. A web page is not the API's: the SDK's exception for it."""
    headers = opened.headers
    if web_page(headers):
        raise page_error(await opened.whole())
    if plain(headers) or (not events(headers) and await opened.opens_as_json()):
        whole = await opened.whole()
        return json_object(whole.content, lambda: whole), None
    return None, opened


async def sdk_answer(
    raw: LegacyAPIResponse[openai.AsyncStream[ResponseStreamEvent]],
) -> tuple[Any, openai.AsyncStream[ResponseStreamEvent] | None]:
    """`lean_answer` on the SDK's own transport. An answer labelled neither events nor JSON (`text/plain`,
    or no content type, from some compatible servers and proxies) is told by its first bytes: read as
    events, a response object was a create whose job nothing named, counted as maybe created and sent
    again, every one of them paid."""
    answer = raw.http_response
    if web_page(raw.headers):
        raise page_error(await read_page(answer))
    if plain(raw.headers):
        return json_object((await read_page(answer)).content, lambda: answer), None
    head, body = b"", None
    if not events(raw.headers):
        body = aiter(answer.aiter_bytes())
        head = await _read(answer, head_of(lambda: anext(body, b"")))
        if starts_as_json(head):
            whole = head + await _read(answer, _joined(body))
            return json_object(whole, lambda: answer), None
    stream = raw.parse()
    # The one change to the SDK's reading: events with no data are passed over, as sse.py passes them.
    stream._decoder = DataEvents(head, body)
    return None, stream


def plain(headers: Mapping[str, str]) -> bool:
    """A stream request answered with a JSON object, not events, by its content type."""
    return content_type(headers) == "application/json"


def json_object(content: bytes, answer: Callable[[], httpx2.Response]) -> dict[str, Any]:
    """A body that must be the API's JSON object (a response, a poll's or a cancel's answer): the object,
    else the SDK's exception for a success whose body is not the API's, as its plain calls raise it
    (`page_error`). `answer` makes the response the exception carries, only then: the lean transport
    reads every background call's answer here, and builds the SDK's kind of response only for that."""
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise openai.APIResponseValidationError(answer(), content.decode(errors="replace"))
    return parsed


class DataEvents:
    """The SDK's SSE decoder (an `SSEBytesDecoder`, which `AsyncStream` reads its events through), less
    the events whose data is empty: the SDK fails to parse those as JSON (sse.py). `head`: the body's
    first bytes, already read from `body` (the rest of it) to tell JSON from events; the stream reads
    them, then the rest, in place of the body's bytes it would read itself."""

    def __init__(self, head: bytes = b"", body: AsyncIterator[bytes] | None = None) -> None:
        self._head, self._body = head, body

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[ServerSentEvent]:
        return (event for event in SSEDecoder().iter_bytes(iterator) if event.data)

    async def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[ServerSentEvent]:
        if self._body is not None:
            iterator = _after(self._head, self._body)  # the body's own iterator was never started
        async for event in SSEDecoder().aiter_bytes(iterator):
            if event.data:
                yield event


async def _joined(body: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in body])


async def _after(head: bytes, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in body:
        yield chunk


async def _read(answer: httpx2.Response, reading: Awaitable[_Read]) -> _Read:
    """What `reading` reads of the SDK transport's answer; a failure reading it as the SDK's exception."""
    try:
        return await reading
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=answer.request) from exc
    except httpx2.HTTPError as exc:
        raise openai.APIConnectionError(request=answer.request) from exc
