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
    # Only an ended response's output is read: the events before it carry none (or parts of it).
    output = _Output(response) if status in ("completed", "incomplete") else None
    text = None if output is None else "".join(output.texts)
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
        refusal=output.refusal() if output is not None and status == "completed" else None,
        cached_tokens=cached,
        service_tier=_field(response, "service_tier"),
        reasoning_summary=None if output is None else output.reasoning_summary(),
        server_seconds=_took(response) if status == "completed" else None,
        tool_calls=None if output is None else output.tool_calls(),
        citations=None if output is None else output.citations(),
        logprobs=None if output is None else output.logprobs(),
        awaits_tools=output is not None and status == "completed" and output.functions,
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


def _took(response: Any) -> float | None:
    created, completed = _field(response, "created_at"), _field(response, "completed_at")
    if isinstance(created, int | float) and isinstance(completed, int | float) and completed >= created:
        return float(completed - created)
    return None


_BILLED_CALLS = frozenset({"web_search_call", "file_search_call"})
"""Output items billed per call (`tool_fees`); a code interpreter is billed per container instead."""
_SOURCES = frozenset({"url_citation", "file_citation"})
"""The annotations that name a source (not `container_file_citation` or `file_path`: files it made)."""


class _Output:
    """What a response's output items hold, read in one walk over them: a completed response's snapshot
    needs seven things from its output, and walking it once for each was a third of what reading a
    streamed row's events cost (tests/benchmarks/RESULTS.md, the forty-seventh session)."""

    __slots__ = ("calls", "containers", "entries", "functions", "notes", "refusals", "summaries", "texts")

    def __init__(self, response: Any) -> None:
        self.texts: list[str] = []  # `output_text` parts' text, of `message` items
        self.refusals: list[str] = []  # `refusal` parts' refusal, of `message` items
        self.summaries: list[str] = []  # `summary_text` parts' text, of `reasoning` items
        self.notes: list[Any] = []  # `output_text` parts' annotations that name a source
        self.entries: list[Any] = []  # `output_text` parts' token log probabilities
        self.calls: dict[str, int] = {}  # billed server-side tool calls, by item type
        self.containers: set[Any] = set()  # code interpreters' containers
        self.functions = False  # a `function_call` item: the response awaits tool results
        for item in _field(response, "output") or ():
            kind = _field(item, "type")
            if kind == "message":
                self._message(item)
            elif kind == "reasoning":
                self.summaries.extend(_texts(_field(item, "summary"), "summary_text", "text"))
            elif kind in _BILLED_CALLS:
                self.calls[kind] = self.calls.get(kind, 0) + 1
            elif kind == "code_interpreter_call":
                self.containers.add(_field(item, "container_id"))
            elif kind == "function_call":
                self.functions = True

    def _message(self, item: Any) -> None:
        for part in _field(item, "content") or ():
            kind = _field(part, "type")
            if kind == "output_text":
                if isinstance(text := _field(part, "text"), str):
                    self.texts.append(text)
                self.notes.extend(
                    note for note in _field(part, "annotations") or () if _field(note, "type") in _SOURCES
                )
                self.entries.extend(_field(part, "logprobs") or ())
            elif kind == "refusal" and isinstance(refusal := _field(part, "refusal"), str):
                self.refusals.append(refusal)

    def tool_calls(self) -> dict[str, int] | None:
        if self.containers:
            return {**self.calls, "code_interpreter_call": len(self.containers)}
        return dict(self.calls) or None

    def citations(self) -> tuple[Citation, ...] | None:
        found = [
            Citation(_field(note, "url"), _field(note, "title"))
            if _field(note, "type") == "url_citation"
            else Citation(file_id=_field(note, "file_id"), filename=_field(note, "filename"))
            for note in self.notes
        ]
        return distinct(found) or None

    def logprobs(self) -> tuple[TokenLogprob, ...] | None:
        return token_logprobs(self.entries) or None

    def refusal(self) -> str | None:
        return "".join(self.refusals) if self.refusals else None

    def reasoning_summary(self) -> str | None:
        # A detailed summary may come in several parts: joined by a blank line.
        return "\n\n".join(self.summaries) if self.summaries else None


def tool_calls_of(response: Any) -> dict[str, int] | None:
    """The server-side tool calls a response made that are billed beside its tokens, by item type
    (`web_search_call`: 3), code interpreters as their distinct containers (`code_interpreter_call`);
    None when it made none, the common case."""
    return _Output(response).tool_calls()


def citations_of(response: Any) -> tuple[Citation, ...] | None:
    """The sources the `output_text` parts of the `message` output items cite (`url_citation` and
    `file_citation` annotations), each once where first cited; None when none is cited, the common case."""
    return _Output(response).citations()


def logprobs_of(response: Any) -> tuple[TokenLogprob, ...] | None:
    """The log probabilities of the answer's tokens (the `logprobs` of the `output_text` parts of the
    `message` output items, in order), when they were asked for; None when the response carries none."""
    return _Output(response).logprobs()


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
    return _Output(response).refusal()


def reasoning_summary_of(response: Any) -> str | None:
    """The `summary_text` parts of the `reasoning` output items, joined by a blank line (a detailed
    summary may come in several parts), or None if the model wrote none."""
    return _Output(response).reasoning_summary()


def output_text(response: Any) -> str:
    """What the SDK's `Response.output_text` gives, for its model or its JSON: the text of every
    `output_text` part of every `message` output item, joined."""
    return "".join(_Output(response).texts)


def _texts(parts: Any, part_type: str, field: str) -> Iterator[str]:
    """The string `field` of every `part_type` part of `parts` (a list, or None)."""
    for part in parts or ():
        if _field(part, "type") == part_type and isinstance(text := _field(part, field), str):
            yield text


def _field(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)
