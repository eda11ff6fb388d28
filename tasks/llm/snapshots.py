"""Reading a Response, as the SDK's model or as its JSON object (a dict, the lean path's), into a
`Snapshot`: status, text, usage, refusal, reasoning summary, citations, token log probabilities,
error. One reading for every backend and transport, so a row's record cannot depend on how its answer came."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import Any, get_args

from rowrelay.tasks.citations import Citation, distinct
from rowrelay.tasks.llm.calls import ResponseStatus, Snapshot
from rowrelay.tasks.llm.usage_counts import token_count
from rowrelay.tasks.token_logprobs import TokenLogprob

_STATUSES: frozenset[str] = frozenset(get_args(ResponseStatus))
log = logging.getLogger("rowrelay.backend")


def snapshot_of(response: Any) -> Snapshot:
    """Reduce a Response to a Snapshot: an SDK `Response` (or anything shaped like one), or the same
    Response as its JSON object (a dict), which the lean hot path reads without building the SDK's model."""
    usage = _field(response, "usage")
    details = _field(usage, "output_tokens_details")
    cached = token_count(
        _field(_field(usage, "input_tokens_details"), "cached_tokens"),
        "usage.input_tokens_details.cached_tokens",
    )
    error = _field(response, "error")
    incomplete = _field(response, "incomplete_details")
    raw_status = _field(response, "status")
    # The SDK types status as optional; a server that omits it is still working as far as we know.
    status: ResponseStatus = raw_status
    if raw_status not in _STATUSES:
        status = "in_progress"
        if raw_status is not None:
            _said_unknown(str(raw_status)[:100])
    code = _field(error, "code")
    message = _field(error, "message")
    if status == "incomplete" and incomplete is not None:
        code, message = "incomplete", f"incomplete: {_field(incomplete, 'reason') or 'unknown'}"
    text = output_text(response) if status in ("completed", "incomplete") else None
    return Snapshot(
        response_id=_field(response, "id"),
        status=status,
        output_text=text,
        # Read defensively: a negative, string or absurd count is unknown (usage_counts.py).
        input_tokens=token_count(_field(usage, "input_tokens"), "usage.input_tokens"),
        output_tokens=token_count(_field(usage, "output_tokens"), "usage.output_tokens"),
        reasoning_tokens=token_count(
            _field(details, "reasoning_tokens"), "usage.output_tokens_details.reasoning_tokens"
        ),
        error_code=code,
        error_message=message,
        model=_field(response, "model"),
        refusal=refusal_of(response) if status == "completed" else None,
        cached_tokens=cached,
        service_tier=_field(response, "service_tier"),
        reasoning_summary=reasoning_summary_of(response) if text is not None else None,
        server_seconds=_took(response) if status == "completed" else None,
        tool_calls=tool_calls_of(response) if text is not None else None,
        citations=citations_of(response) if text is not None else None,
        logprobs=logprobs_of(response) if text is not None else None,
        awaits_tools=status == "completed" and _asks_for_functions(response),
        background=background if isinstance(background := _field(response, "background"), bool) else None,
    )


@functools.cache
def _said_unknown(status: str) -> None:
    """Said once a process for each status the API does not have (`"succeeded"`, `"done"`): such a
    response is read as still in progress and polled on, which without a word looked like a hang."""
    log.warning(
        "the server answered a response status the API does not have, %r: read as still in progress "
        "(the API's: %s)",
        status,
        ", ".join(sorted(_STATUSES)),
    )


def _asks_for_functions(response: Any) -> bool:
    return any(_field(item, "type") == "function_call" for item in _field(response, "output") or ())


def _took(response: Any) -> float | None:
    created, completed = _field(response, "created_at"), _field(response, "completed_at")
    if isinstance(created, int | float) and isinstance(completed, int | float) and completed >= created:
        return float(completed - created)
    return None


_BILLED_CALLS = frozenset({"web_search_call", "file_search_call"})
"""Output items billed per call (`tool_fees`); a code interpreter is billed per container instead."""


def tool_calls_of(response: Any) -> dict[str, int] | None:
    """The server-side tool calls a response made that are billed beside its tokens, by item type
    (`web_search_call`: 3), code interpreters as their distinct containers (`code_interpreter_call`);
    None when it made none, the common case."""
    counts: dict[str, int] = {}
    containers = set()
    for item in _field(response, "output") or ():
        kind = _field(item, "type")
        if kind in _BILLED_CALLS:
            counts[kind] = counts.get(kind, 0) + 1
        elif kind == "code_interpreter_call":
            containers.add(_field(item, "container_id"))
    if containers:
        counts["code_interpreter_call"] = len(containers)
    return counts or None


_SOURCES = frozenset({"url_citation", "file_citation"})
"""The annotations that name a source (not `container_file_citation` or `file_path`: files it made)."""


def citations_of(response: Any) -> tuple[Citation, ...] | None:
    """The sources the `output_text` parts of the `message` output items cite (`url_citation` and
    `file_citation` annotations), each once where first cited; None when none is cited, the common case."""
    found = [
        Citation(_field(note, "url"), _field(note, "title"))
        if _field(note, "type") == "url_citation"
        else Citation(file_id=_field(note, "file_id"), filename=_field(note, "filename"))
        for part in _parts(response, "message", "content", "output_text")
        for note in _field(part, "annotations") or ()
        if _field(note, "type") in _SOURCES
    ]
    return distinct(found) or None


def logprobs_of(response: Any) -> tuple[TokenLogprob, ...] | None:
    """The log probabilities of the answer's tokens (the `logprobs` of the `output_text` parts of the
    `message` output items, in order), when they were asked for; None when the response carries none."""
    entries = [
        entry
        for part in _parts(response, "message", "content", "output_text")
        for entry in _field(part, "logprobs") or ()
    ]
    return token_logprobs(entries) or None


def token_logprobs(entries: Any) -> tuple[TokenLogprob, ...]:
    """Token log probabilities as both APIs list them (the Responses API's `Logprob`, Chat Completions'
    `ChatCompletionTokenLogprob`: `token`, `logprob`, `top_logprobs` of `token` and `logprob`), as the
    SDK's models or their JSON."""
    return tuple(
        TokenLogprob(
            _field(entry, "token"),
            _field(entry, "logprob"),
            tuple(
                (_field(other, "token"), _field(other, "logprob"))
                for other in _field(entry, "top_logprobs") or ()
            ),
        )
        for entry in entries or ()
    )


def refusal_of(response: Any) -> str | None:
    """The text of the `refusal` content parts of the `message` output items, or None if none."""
    parts = _texts(response, "message", "content", "refusal", "refusal")
    return "".join(parts) if parts else None


def reasoning_summary_of(response: Any) -> str | None:
    """The `summary_text` parts of the `reasoning` output items, joined by a blank line (a detailed
    summary may come in several parts), or None if the model wrote none."""
    parts = _texts(response, "reasoning", "summary", "summary_text", "text")
    return "\n\n".join(parts) if parts else None


def output_text(response: Any) -> str:
    """What the SDK's `Response.output_text` gives, for its model or its JSON: the text of every
    `output_text` part of every `message` output item, joined."""
    return "".join(_texts(response, "message", "content", "output_text", "text"))


def _texts(response: Any, item_type: str, parts: str, part_type: str, field: str) -> list[str]:
    """The string `field` of every `part_type` part in the `parts` list of every `item_type` output item:
    text, refusals and summaries are all read this way."""
    return [
        text
        for part in _parts(response, item_type, parts, part_type)
        if isinstance(text := _field(part, field), str)
    ]


def _parts(response: Any, item_type: str, parts: str, part_type: str) -> Iterator[Any]:
    """Every `part_type` part in the `parts` list of every `item_type` output item, in order."""
    for item in _field(response, "output") or ():
        if _field(item, "type") == item_type:
            yield from (part for part in _field(item, parts) or () if _field(part, "type") == part_type)


def _field(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)
