"""What a create's refusal (a 400 or 422) names beyond its words: the parameter and code the server gave,
which `sdk_errors.translate` keeps on the `RequestRejectedError` it makes. The run tells by them a refusal
of how it asks (a streamed create, `run.submit`) from one of a row's own input."""

from __future__ import annotations

import re
from dataclasses import dataclass

_STREAMING = re.compile(r"\bstream(s|ed|ing)?\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Refusal:
    param: str | None
    code: str | None
    message: str


def refusal_of(error: BaseException) -> Refusal | None:
    """What the 400 or 422 that `error` was translated from named (`RequestRejectedError.refusal`); None
    when it came from another answer (a 429 for a row too large for the limit, say) or from no server."""
    return getattr(error, "refusal", None)


def refuses_stream(error: BaseException) -> bool:
    """Whether a streamed create's refusal is of the stream itself, which the same create without it may
    pass: it names `stream` as its parameter (OpenAI's way, and vLLM's), or, naming none, says so in its
    words ("Streaming is not supported with background mode"). A row's own refusal (its input too long
    for the model) is neither, and would meet the same create without the stream."""
    refusal = refusal_of(error)
    if refusal is None:
        return False
    if refusal.param is not None:
        return refusal.param == "stream"
    return _STREAMING.search(refusal.message) is not None
