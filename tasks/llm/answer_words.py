"""What rowrelay reads of an HTTP answer to say what it was: its media type (`events`: a stream of
server-sent events), whether its body is the API's own error envelope (`from_the_api`), the server's words
in it (`server_words`) or the start of the body (`excerpt`), and how an answer that is not the API's is
told (`not_the_api`). `sdk_errors.translate` decides with these; `answers` reads a success with them."""

from __future__ import annotations

from collections.abc import Mapping

import openai

from rowrelay.tasks.llm.unusual_statuses import route_hint


def not_the_api(method: str, url: str, answer: str) -> str:
    """What a success that is not the API's answer was, and what to check, in one line."""
    return f"{answered(method, url, answer)}, which is not the API's answer: {route_hint(url)}"


def answered(method: str, url: str, answer: str) -> str:
    """What a request was answered with, in words (`answer`: the status and body's start, or a kind)."""
    return f"{method} {url} was answered {answer}"


def content_type(headers: Mapping[str, str]) -> str:
    """An answer's media type, without its parameters (`; charset=...`), in lower case as it compares."""
    return headers.get("content-type", "").split(";")[0].strip().lower()


def events(headers: Mapping[str, str]) -> bool:
    """An answer of server-sent events, by its content type: a stream request's, or one a server that
    streams every answer gives a plain call (`sdk_errors.streamed_unasked`). A stream request's answer
    labelled neither this nor JSON is told by its first bytes (`answers.sdk_answer`)."""
    return content_type(headers) == "text/event-stream"


EXCERPT = 100
"""Characters of an answer that is not the API's quoted in its error: enough to tell a web server's page."""


def excerpt(body: object, limit: int = EXCERPT) -> str:
    """The start of an answer's body, on one line."""
    flat = " ".join((body if isinstance(body, str) else repr(body)).split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def from_the_api(exc: openai.APIStatusError) -> bool:
    # The SDK hands over the envelope's inner object (`{"message", "type", "code", "param"}`); a proxy's
    # page is a string, and a proxy's JSON (`{"statusCode": 500, "message": ...}`) has no type or code.
    body = exc.body
    return (
        isinstance(body, dict) and isinstance(body.get("message"), str) and ("type" in body or "code" in body)
    )


def server_words(exc: openai.APIStatusError) -> str:
    """The server's words: the envelope's `message`, else a web framework's `detail` (FastAPI's string, or
    its validation errors), else the start of the body. The SDK's own text names only the status
    (`Error code: 400`) when the body holds no `message`: a row rejected by such a server said nothing of
    why. The body was masked of keys with the rest of the exception (`sdk_errors.translate`)."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        detail = _detail(body.get("detail"))
        if detail:
            return excerpt(detail, WORDS)
    if body is None or body == "":
        return exc.message  # nothing to quote: the status alone
    return excerpt(body, WORDS)


WORDS = 300
"""Characters of a body with no `message` quoted as the server's words: a validation error's list, or
JSON of another shape, is cut there."""


def _detail(detail: object) -> str | None:
    """A web framework's `detail`: its words (`{"detail": "input too long"}`), or FastAPI's validation
    errors (`[{"loc": ["body", "input"], "msg": "field required"}]`) as `body.input: field required`."""
    if isinstance(detail, str):
        return detail
    if not isinstance(detail, list):
        return None
    said = []
    for problem in detail:
        if isinstance(problem, dict) and isinstance(problem.get("msg"), str):
            where = ".".join(str(part) for part in problem.get("loc") or ())
            said.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return "; ".join(said) or None
