"""Wire payloads: Response objects, their output items and parts, and error envelopes (all pure); the
stream events built from them are `stream_events.py`'s.

Field names and shapes follow the official OpenAPI spec's `Response`, `ResponseStreamEvent` and
`ErrorResponse` schemas (the contract tests validate every payload against a vendored copy of it) and
what the official SDK parses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from rowrelay.tasks.emulator import search_events as searches
from rowrelay.tasks.emulator.logprobs import response_logprobs
from rowrelay.tasks.emulator.reasoning import echoed
from rowrelay.tasks.emulator.structured import echo
from rowrelay.tasks.emulator.summary import summary_parts
from rowrelay.tasks.emulator.timeline import Entry, EntryKind, Record, Status, status_of
from rowrelay.tasks.emulator.tools import echo_tools

_ECHOED = (
    "temperature",
    "top_p",
    "tool_choice",
    "tools",
    "truncation",
    "text",
)
_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "tool_choice": "auto",
    "tools": [],
    "truncation": "disabled",
    "text": {"format": {"type": "text"}},
}
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def response_object(
    record: Record, seen: tuple[Entry, ...], include: frozenset[str] = frozenset(), *, live: bool = True
) -> dict[str, Any]:
    """The Response as it stands after the `seen` entries of its timeline.

    `live=False` gives the snapshot a stream event carries: the state at that event, even if the
    response was cancelled later (a replayed `response.created` must still say `queued`).
    """
    body = record.body
    status = status_of(record, seen, live=live)
    plan = record.plan
    obj: dict[str, Any] = {
        "id": record.id,
        "object": "response",
        "created_at": record.created_at,
        "status": status,
        "background": record.background,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "metadata": body.get("metadata") or {},
        "model": body.get("model"),
        "output": output_items(record, seen, include),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "service_tier": served_tier(body),
        "store": record.store,
        "usage": None,
    }
    for key in _ECHOED:
        obj[key] = body.get(key, _DEFAULTS[key])
    obj["tools"] = echo_tools(obj["tools"])
    obj["text"] = echo(obj["text"])
    obj["reasoning"] = echoed(body)
    obj["top_logprobs"] = body.get("top_logprobs") or 0  # the service echoes 0 when none was asked
    if body.get("user") is not None:
        # Deprecated and typed `string` (not nullable) in the spec: sent only when the request set it.
        obj["user"] = body["user"]
    if status == "completed":
        obj["completed_at"] = record.created_at + round(plan.work_time)
        obj["usage"] = usage(record)
    elif status == "incomplete":
        obj["incomplete_details"] = {"reason": "content_filter" if plan.filtered else "max_output_tokens"}
        obj["usage"] = usage(record)
    elif status == "failed":
        obj["error"] = {"code": "server_error", "message": SERVER_ERROR_MESSAGE}
    return obj


def served_tier(body: dict[str, Any]) -> str:
    """The tier a response reports it was processed in: the one asked for, and `default` for `auto` or
    none, as the service answers a project with no Scale Tier."""
    asked = body.get("service_tier")
    return "default" if asked in (None, "auto") else str(asked)


def usage(record: Record) -> dict[str, Any]:
    plan = record.plan
    return {
        "input_tokens": plan.input_tokens,
        "input_tokens_details": {"cached_tokens": plan.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": plan.output_tokens,
        "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
        "total_tokens": plan.input_tokens + plan.output_tokens,
    }


def output_items(record: Record, seen: tuple[Entry, ...], include: frozenset[str]) -> list[dict[str, Any]]:
    kinds = {entry.kind for entry in seen}
    items: list[dict[str, Any]] = []
    if "reasoning_added" in kinds:
        items.append(reasoning_item(record, include, done="reasoning_done" in kinds))
    items += searches.search_items(record, seen, include)
    if "message_added" in kinds:
        status = item_status(record, kinds, "message_done")
        text, annotations = text_so_far(record, seen), searches.annotations_so_far(record, seen)
        items.append(message_item(record, text, status, annotations, include))
    if "call_added" in kinds:
        status = item_status(record, kinds, "call_done")
        items.append(function_call_item(record, arguments_so_far(record, seen), status))
    return items


def item_status(record: Record, kinds: set[EntryKind], done: EntryKind) -> str:
    if done in kinds:
        return "incomplete" if record.plan.outcome == "incomplete" else "completed"
    return "in_progress"


def reasoning_item(record: Record, include: frozenset[str], *, done: bool) -> dict[str, Any]:
    """The reasoning item; its summary once the item is done (`response.output_item.added` has none, as
    the service sends it: the text arrives in the summary events between the two)."""
    summary = summary_parts(record.plan.summary) if done else []
    item: dict[str, Any] = {"id": record.reasoning_id, "type": "reasoning", "summary": summary}
    if "reasoning.encrypted_content" in include:
        item["encrypted_content"] = hashlib.sha256(record.id.encode()).hexdigest()
    return item


def message_item(
    record: Record, text: str | None, status: str, annotations: Sequence[Any], include: frozenset[str]
) -> dict[str, Any]:
    """The answer's message item with `text` written (None: no content part yet), its output text's
    logprobs shown if `include` asks for them."""
    content: list[dict[str, Any]] = []
    if text is not None and record.plan.refusal:
        content.append(refusal_part(text))
    elif text is not None:
        logprobs = response_logprobs(record.plan, record.body, include, 0, len(text))
        content.append(output_text_part(text, annotations, logprobs))
    return {
        "id": record.message_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def function_call_item(record: Record, arguments: str, status: str) -> dict[str, Any]:
    """The model's call of a function tool (spec `FunctionToolCall`); arguments are a JSON string."""
    call = record.plan.call
    assert call is not None, "only a plan with a call has a function_call item"
    return {
        "id": record.call_item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": record.call_id,
        "name": call.name,
    }


def output_text_part(
    text: str, annotations: Sequence[Any] = (), logprobs: Sequence[Any] = ()
) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": list(annotations), "logprobs": list(logprobs)}


def refusal_part(text: str) -> dict[str, Any]:
    """The content part of a model's refusal (spec `RefusalContent`)."""
    return {"type": "refusal", "refusal": text}


def text_so_far(record: Record, seen: tuple[Entry, ...]) -> str:
    return "".join(record.plan.chunks[: sum(1 for e in seen if e.kind == "delta")])


def arguments_so_far(record: Record, seen: tuple[Entry, ...]) -> str:
    chunks = record.plan.call.chunks if record.plan.call is not None else ()
    return "".join(chunks[: sum(1 for e in seen if e.kind == "arguments_delta")])


def answer_index(record: Record) -> int:
    """The answer's (message or function call) output index: after the reasoning item and the searches."""
    return (1 if record.plan.reasoning else 0) + len(record.plan.searches)


def current_status(record: Record, elapsed: float) -> Status:
    return status_of(record, record.visible(elapsed))
