"""Reading an answer that may not be the API's: a web page where the API should be (a wrong address, a
proxy's sign-in page), JSON of another kind. The SDK hands a page's text over as a plain call's answer
and reads it as a stream with no events; the lean transport raises the SDK's
`APIResponseValidationError` for it (wire.py). Both backends raise that, so that `sdk_errors.translate` makes
one decision of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx2
import openai
import orjson
from openai.types.responses import ResponseStreamEvent

from rowrelay.tasks.llm.calls import NotTheApiError
from rowrelay.tasks.llm.event_stream import EventStream
from rowrelay.tasks.llm.masking import masked, secrets_in
from rowrelay.tasks.llm.sdk_errors import content_type, excerpt, not_the_api

if TYPE_CHECKING:
    from openai._legacy_response import LegacyAPIResponse  # what `with_raw_response` calls return

_Model = TypeVar("_Model")
STREAMED = "the events of its stream, whose first response has no id"
"""What a streamed create's answer was, for `nothing_named`: no JSON object to show."""


def route(base_url: object, path: str) -> str:
    """The URL of `path` under a client's base URL. httpx writes a base URL whose path is only "/" without
    it (`http://host:8000`), and joined as it was written, `--base-url http://host:8000` sent every create
    to `http://host:8000responses`: each row failed on an invalid port, as a crash of rowrelay's."""
    return str(base_url).rstrip("/") + "/" + path


def nothing_named(
    base_url: object, path: str, what: str, answer: object, sent: Mapping[str, str]
) -> NotTheApiError:
    """The error for a create answered with a success that names no `what` (a response, a completion's
    choices): whatever answered is not the API. Such an answer may show the request it got (an echo
    server's): the keys `sent` carries (the client's `auth_headers`) are masked in it."""
    said = f"with a success naming no {what} ({excerpt(masked(shown(answer), secrets_in(sent)))})"
    return NotTheApiError(not_the_api("POST", route(base_url, path), said))


def plain(headers: Mapping[str, str]) -> bool:
    """A stream request answered with a JSON object, not events."""
    return content_type(headers) == "application/json"


def web_page(headers: Mapping[str, str]) -> bool:
    """A request answered with a web page: a web server or a proxy's page, not the API."""
    return content_type(headers) == "text/html"


def page_error(answer: httpx2.Response) -> openai.APIResponseValidationError:
    """The SDK's exception for a success whose body is not the API's, as its plain calls raise it."""
    return openai.APIResponseValidationError(answer, answer.content.decode(errors="replace"))


async def parsed(raw: LegacyAPIResponse[_Model]) -> _Model:
    """The SDK's answer to a plain call. A web page is not the API's: the SDK would hand over its text as
    the answer, where the lean transport raises (wire.py), so this raises as that does."""
    if web_page(raw.headers):
        raise page_error(await read_page(raw.http_response))
    return raw.parse()


async def read_page(answer: httpx2.Response) -> httpx2.Response:
    """The SDK transport's answer, read whole (a page, or JSON); a failure reading it as the SDK's own
    exception."""
    try:
        await answer.aread()
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=answer.request) from exc
    except httpx2.HTTPError as exc:
        raise openai.APIConnectionError(request=answer.request) from exc
    return answer


def shown(answer: object) -> str:
    """An answer's JSON (the SDK's model of it, or the lean transport's object), for its error."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict):
        return orjson.dumps(answer).decode()
    to_json = getattr(answer, "to_json", None)
    return str(to_json(indent=None)) if callable(to_json) else repr(answer)


async def read_json(answer: httpx2.Response) -> Any:
    """The SDK transport's whole answer as JSON; a failure reading it as the SDK's own exception."""
    return orjson.loads((await read_page(answer)).content)


async def lean_answer(opened: EventStream) -> tuple[Any, EventStream | None]:
    """A stream request's answer on the lean transport: its events (None, the stream), or the object a
    server that ignores `stream` sends instead (it, None), read whole so the connection goes back to the
    pool. A web page is not the API's: the SDK's exception for it."""
    if plain(opened.headers):
        return await opened.json(), None
    if web_page(opened.headers):
        raise page_error(await opened.whole())
    return None, opened


async def sdk_answer(
    raw: LegacyAPIResponse[openai.AsyncStream[ResponseStreamEvent]],
) -> tuple[Any, openai.AsyncStream[ResponseStreamEvent] | None]:
    """`lean_answer` on the SDK's own transport."""
    if plain(raw.headers):
        return await read_json(raw.http_response), None
    if web_page(raw.headers):
        raise page_error(await read_page(raw.http_response))
    return None, raw.parse()
