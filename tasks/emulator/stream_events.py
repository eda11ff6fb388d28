"""Stream events: a response's timeline entry by entry as the service streams it, and SSE framing (all
pure). Each event's response, items and parts are `payloads.py`'s, as a poll shows them at that instant.

Shapes follow the official OpenAPI spec's `ResponseStreamEvent` (the contract tests validate every event
against a vendored copy of it) and what the official SDK parses.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from rowrelay.tasks.emulator import search_events as searches
from rowrelay.tasks.emulator.logprobs import delta_logprobs, response_logprobs
from rowrelay.tasks.emulator.payloads import (
    SERVER_ERROR_MESSAGE,
    answer_index,
    arguments_so_far,
    function_call_item,
    message_item,
    output_text_part,
    reasoning_item,
    refusal_part,
    response_object,
    text_so_far,
)
from rowrelay.tasks.emulator.summary import summary_event
from rowrelay.tasks.emulator.timeline import Entry, Record


def stream_event(
    record: Record,
    entries: tuple[Entry, ...],
    index: int,
    *,
    error_shape: str,
    obfuscation: bool,
    include: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Event number `index` of the record's timeline; its sequence_number is its index
    (the service numbers a response's events 0, 1, 2, ...)."""
    entry = entries[index]
    seen = entries[: index + 1]
    kind = entry.kind
    event: dict[str, Any]
    if kind in ("created", "queued", "in_progress", "terminal"):
        snapshot = response_object(record, seen, include, live=False)
        if kind != "terminal":
            snapshot["output"] = []
        name = snapshot["status"] if kind == "terminal" else kind
        event = {"type": f"response.{name}", "response": snapshot}
    elif kind in _ITEM_KINDS:
        event = _output_item_event(record, kind, seen, include)
    elif kind in searches.SEARCH_KINDS:
        event = searches.search_event(record, entry, include)
    elif kind in _SUMMARY_KINDS:
        event = summary_event(kind, record.reasoning_id, record.plan.summary, entry.chunk)
    elif kind == "error":
        event = _error_event(error_shape)
    elif kind in ("arguments_delta", "arguments_done"):
        event = _arguments_event(record, entry, arguments_so_far(record, seen))
    else:
        event = _text_event(record, entry, seen, include)
    if obfuscation and (kind in _OBFUSCATED or (kind == "delta" and not record.plan.refusal)):
        event["obfuscation"] = _obfuscation(record.id, index)
    event["sequence_number"] = index
    return event


_ITEM_KINDS = frozenset(
    {"reasoning_added", "reasoning_done", "message_added", "message_done", "call_added", "call_done"}
)
_SUMMARY_KINDS = frozenset({"summary_part_added", "summary_delta", "summary_text_done", "summary_part_done"})
# Deltas the service always pads (`include_obfuscation`: "streaming delta events"); a text delta is
# padded unless it is a refusal's.
_OBFUSCATED = frozenset({"arguments_delta", "summary_delta"})


def _output_item_event(
    record: Record, kind: str, seen: tuple[Entry, ...], include: frozenset[str]
) -> dict[str, Any]:
    """`response.output_item.added` / `.done` for the reasoning item, the message or the function call."""
    phase = "added" if kind.endswith("_added") else "done"
    status = "in_progress"
    if phase == "done":
        status = "incomplete" if record.plan.outcome == "incomplete" else "completed"
    item: dict[str, Any]
    if kind.startswith("reasoning"):
        output_index, item = 0, reasoning_item(record, include, done=phase == "done")
    elif kind.startswith("call"):
        arguments = "" if phase == "added" else arguments_so_far(record, seen)
        output_index, item = answer_index(record), function_call_item(record, arguments, status)
    else:
        text = None if phase == "added" else text_so_far(record, seen)
        annotations = searches.annotations_so_far(record, seen)
        output_index, item = answer_index(record), message_item(record, text, status, annotations, include)
    return {"type": f"response.output_item.{phase}", "output_index": output_index, "item": item}


def _arguments_event(record: Record, entry: Entry, arguments: str) -> dict[str, Any]:
    """`response.function_call_arguments.delta` / `.done`. The done event names the function, as the
    spec requires (openai/openai-python#2723 reports a service that left it out; the SDK ignores it)."""
    call = record.plan.call
    assert call is not None, "only a plan with a call streams arguments"
    where = {"item_id": record.call_item_id, "output_index": answer_index(record)}
    if entry.kind == "arguments_delta":
        return {"type": "response.function_call_arguments.delta", **where, "delta": call.chunks[entry.chunk]}
    return {
        "type": "response.function_call_arguments.done",
        **where,
        "name": call.name,
        "arguments": arguments,
    }


def _text_event(
    record: Record, entry: Entry, seen: tuple[Entry, ...], include: frozenset[str]
) -> dict[str, Any]:
    """The message's content part and text events: part added, deltas, annotations, text done, part done (a
    refusal's part has `response.refusal.delta` and `.done` events instead of `output_text` ones). A delta
    carries its own tokens' logprobs, the done events all of them, when `include` shows them."""
    where = {"item_id": record.message_id, "output_index": answer_index(record), "content_index": 0}
    refusal = record.plan.refusal
    part = refusal_part if refusal else output_text_part
    if entry.kind == "part_added":
        return {"type": "response.content_part.added", **where, "part": part("")}
    if entry.kind == "annotation_added":
        return searches.annotation_event(record, entry, where)
    plan, body = record.plan, record.body
    if entry.kind == "delta":
        delta = plan.chunks[entry.chunk]
        if refusal:
            return {"type": "response.refusal.delta", **where, "delta": delta}
        logprobs = delta_logprobs(plan, body, include, entry.chunk)
        return {"type": "response.output_text.delta", **where, "delta": delta, "logprobs": logprobs}
    text = text_so_far(record, seen)  # only the done events carry it: a delta is most of a stream
    if entry.kind == "text_done":
        if refusal:
            return {"type": "response.refusal.done", **where, "refusal": text}
        logprobs = response_logprobs(plan, body, include, 0, len(text), event=True)
        return {"type": "response.output_text.done", **where, "text": text, "logprobs": logprobs}
    notes = searches.annotations_so_far(record, seen)
    shown = [] if refusal else response_logprobs(plan, body, include, 0, len(text))
    done = refusal_part(text) if refusal else output_text_part(text, notes, shown)
    return {"type": "response.content_part.done", **where, "part": done}  # part_done


def _error_event(shape: str) -> dict[str, Any]:
    if shape == "flat":
        return {
            "type": "error",
            "code": "server_error",
            "message": SERVER_ERROR_MESSAGE,
            "param": None,
        }
    inner = {"type": "server_error", "code": "server_error", "message": SERVER_ERROR_MESSAGE}
    return {"type": "error", "error": {**inner, "param": None}}


def _obfuscation(response_id: str, index: int) -> str:
    # Real deltas carry random padding so their sizes leak nothing; a fixed-looking token will do.
    return hashlib.blake2b(f"{response_id}|{index}".encode(), digest_size=6).hexdigest()[: 3 + index % 8]


def sse(event: dict[str, Any]) -> bytes:
    """One SSE frame; `event:` repeats `data.type` as OpenAI does."""
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
